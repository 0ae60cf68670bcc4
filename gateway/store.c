/* store.c - the embedded store of source records: one SQLite file in WAL mode.
 *
 * One table holds every source record, keyed by department and key (a WITHOUT ROWID table,
 * so the key order is the table order and an insert touches one B-tree for the row). The
 * content is the record codec's byte string. Two indexes serve the person lookups: one on
 * the ID number, and a partial one on 原证编号 that only reissued death certificates enter.
 * Every index a record enters costs its insert a random page write, so there are no
 * others. */
#include "vg_store.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#define STORE_FILE       "vitalgate.db"
#define SCHEMA_VERSION   1
#define BUSY_TIMEOUT_MS  10000
#define WRITER_CACHE_KIB "131072"   /* 128 MiB of page cache for the writer */
#define CHECKPOINT_PAGES "10000"    /* checkpoint once the log holds ~40 MB */
#define WAL_LIMIT_BYTES  "67108864" /* truncate the log to 64 MiB after a checkpoint */
/* Room for the largest record the codec writes: every string is at most its buffer, every
 * integer eight bytes. */
#define BLOB_MAX (2 * sizeof(vg_record) + 256)

static const char *const schema_sql =
    "CREATE TABLE record ("
    "  dept INTEGER NOT NULL,"
    "  key TEXT NOT NULL,"
    "  id_number TEXT NOT NULL,"
    "  orig_no TEXT," /* 原证编号 of a reissued death certificate, else NULL */
    "  content BLOB NOT NULL,"
    "  PRIMARY KEY (dept, key)"
    ") WITHOUT ROWID;"
    "CREATE INDEX record_id ON record (id_number);"
    "CREATE INDEX record_orig ON record (orig_no) WHERE orig_no IS NOT NULL;";

struct vg_store {
    sqlite3 *db;
    char *path;
    pthread_mutex_t lock; /* serialises writers: one transaction at a time */
    sqlite3_stmt *find;
    sqlite3_stmt *insert;
    sqlite3_stmt *update;
    sqlite3_stmt *holders;
    sqlite3_stmt *begin;
    sqlite3_stmt *commit;
    sqlite3_stmt *rollback;
    sqlite3_stmt *set_generation;
    uint8_t blob[BLOB_MAX];
};

/* How much of the store file a reader maps (a 4,000,000-person city's store is ~250 MiB). */
#define READER_MMAP_BYTES "2147483648"

struct vg_store_reader {
    sqlite3 *db;
    sqlite3_stmt *by_id;
    sqlite3_stmt *reissues;
    sqlite3_stmt *count;
    sqlite3_stmt *data_version;
    sqlite3_stmt *generation;
    long long seen_version; /* data_version when generation was read; -1 before */
    uint64_t generation_value;
};

/* Runs one statement that returns no rows worth reading. */
static int exec1(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* Reads a single integer from a one-row query such as a PRAGMA; -1 on failure. */
static long long query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long v = -1;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        goto out;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
out:
    sqlite3_finalize(st);
    return v;
}

/* Sets WAL mode, full synchronous commits and the cache on the writer connection. */
static int set_pragmas(sqlite3 *db, char *why, size_t whylen)
{
    sqlite3_stmt *st = NULL;
    int ok = 0;

    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        vg_why(why, whylen, "cannot read the store: %s", sqlite3_errmsg(db));
        goto out;
    }
    if (sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), "wal") != 0) {
        vg_why(why, whylen, "the store cannot use WAL mode");
        goto out;
    }
    if (exec1(db, "PRAGMA synchronous=FULL") != SQLITE_OK) {
        vg_why(why, whylen, "cannot set synchronous commits: %s", sqlite3_errmsg(db));
        goto out;
    }
    /* A batch of random keys dirties pages all over both B-trees. A larger page cache and
     * rarer checkpoints let one checkpoint write a page that several batches changed once:
     * about 1.5 times the insert rate of the defaults on a million records. The log is cut
     * back after a checkpoint so that it does not keep its largest size. */
    if (exec1(db, "PRAGMA cache_size=-" WRITER_CACHE_KIB) != SQLITE_OK ||
        exec1(db, "PRAGMA wal_autocheckpoint=" CHECKPOINT_PAGES) != SQLITE_OK ||
        exec1(db, "PRAGMA journal_size_limit=" WAL_LIMIT_BYTES) != SQLITE_OK) {
        vg_why(why, whylen, "cannot size the store's cache: %s", sqlite3_errmsg(db));
        goto out;
    }
    ok = 1;
out:
    sqlite3_finalize(st);
    return ok;
}

/* Creates the schema in a fresh file, or checks the version of an existing one. */
static int check_schema(sqlite3 *db, char *why, size_t whylen)
{
    long long version, objects;
    int ok = 0;

    if (exec1(db, "BEGIN IMMEDIATE") != SQLITE_OK) {
        vg_why(why, whylen, "cannot lock the store: %s", sqlite3_errmsg(db));
        return 0;
    }
    version = query_int(db, "PRAGMA user_version");
    objects = query_int(db, "SELECT count(*) FROM sqlite_schema");
    if (version < 0 || objects < 0) {
        vg_why(why, whylen, "cannot read the store's schema: %s", sqlite3_errmsg(db));
        goto out;
    }
    if (version > SCHEMA_VERSION) {
        vg_why(why, whylen, "store schema version %lld is newer than this build's %d", version,
               SCHEMA_VERSION);
        goto out;
    }
    if (version == 0 && objects > 0) {
        vg_why(why, whylen, "the file holds tables but is not a vitalgate store");
        goto out;
    }
    if (version == 0) {
        char sql[64];

        snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", SCHEMA_VERSION);
        if (exec1(db, schema_sql) != SQLITE_OK || exec1(db, sql) != SQLITE_OK) {
            vg_why(why, whylen, "cannot create the schema: %s", sqlite3_errmsg(db));
            goto out;
        }
    }
    ok = exec1(db, "COMMIT") == SQLITE_OK;
    if (!ok)
        vg_why(why, whylen, "cannot commit the schema: %s", sqlite3_errmsg(db));
out:
    if (!ok)
        exec1(db, "ROLLBACK");
    return ok;
}

/* A random 64-bit number from getrandom(2); 0 on success. */
static int random64(uint64_t *v)
{
    uint8_t *p = (uint8_t *)v;
    size_t got = 0;

    while (got < sizeof(*v)) {
        ssize_t k = getrandom(p + got, sizeof(*v) - got, 0);

        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        got += (size_t)k;
    }
    return 0;
}

/* Creates the table of store-wide values when missing (stores made before it existed get
 * it too) and gives the cache generation its first random value. */
static int check_meta(sqlite3 *db, char *why, size_t whylen)
{
    sqlite3_stmt *st = NULL;
    uint64_t gen;
    int ok = 0;

    if (random64(&gen) != 0) {
        vg_why(why, whylen, "cannot draw a random number: %s", strerror(errno));
        return 0;
    }
    if (exec1(db, "BEGIN IMMEDIATE") != SQLITE_OK) {
        vg_why(why, whylen, "cannot lock the store: %s", sqlite3_errmsg(db));
        return 0;
    }
    if (exec1(db, "CREATE TABLE IF NOT EXISTS meta ("
                  "  name TEXT PRIMARY KEY,"
                  "  value INTEGER NOT NULL)") != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "INSERT OR IGNORE INTO meta (name, value) "
                           "VALUES ('cache_generation', ?1)",
                           -1, &st, NULL) != SQLITE_OK) {
        vg_why(why, whylen, "cannot create the meta table: %s", sqlite3_errmsg(db));
        goto out;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)gen);
    if (sqlite3_step(st) != SQLITE_DONE) {
        vg_why(why, whylen, "cannot set the cache generation: %s", sqlite3_errmsg(db));
        goto out;
    }
    ok = exec1(db, "COMMIT") == SQLITE_OK;
    if (!ok)
        vg_why(why, whylen, "cannot commit the meta table: %s", sqlite3_errmsg(db));
out:
    sqlite3_finalize(st);
    if (!ok)
        exec1(db, "ROLLBACK");
    return ok;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) == SQLITE_OK;
}

static int prepare_writer(vg_store *s)
{
    return prepare(s->db,
                   "SELECT id_number, orig_no, content FROM record "
                   "WHERE dept = ?1 AND key = ?2",
                   &s->find) &&
           prepare(s->db,
                   "INSERT INTO record (dept, key, id_number, orig_no, content) "
                   "VALUES (?1, ?2, ?3, ?4, ?5)",
                   &s->insert) &&
           prepare(s->db,
                   "UPDATE record SET id_number = ?3, orig_no = ?4, content = ?5 "
                   "WHERE dept = ?1 AND key = ?2",
                   &s->update) &&
           /* A health record's key is 死亡证编号 "|" 签发时间 (vg_adapter.h), so the
            * certificates bearing one number are a key range. */
           prepare(s->db,
                   "SELECT id_number, content FROM record "
                   "WHERE dept = ?1 AND key >= ?2 || '|' AND key < ?2 || '}'",
                   &s->holders) &&
           prepare(s->db, "BEGIN IMMEDIATE", &s->begin) && prepare(s->db, "COMMIT", &s->commit) &&
           prepare(s->db, "ROLLBACK", &s->rollback) &&
           prepare(s->db, "UPDATE meta SET value = ?1 WHERE name = 'cache_generation'",
                   &s->set_generation);
}

static vg_err make_dir(const char *dir, char *why, size_t whylen)
{
    struct stat sb;

    if (stat(dir, &sb) == 0) {
        if (S_ISDIR(sb.st_mode))
            return VG_OK;
        vg_why(why, whylen, "%s is not a directory", dir);
        return VG_ERR_IO;
    }
    if (errno != ENOENT || mkdir(dir, 0700) != 0) {
        vg_why(why, whylen, "cannot create directory %s: %s", dir, strerror(errno));
        return VG_ERR_IO;
    }
    return VG_OK;
}

vg_err vg_store_open(const char *dir, vg_store **out, char *why, size_t whylen)
{
    vg_store *s = NULL;
    vg_err err = VG_ERR_IO;
    size_t len;

    *out = NULL;
    if (!dir || !*dir) {
        vg_why(why, whylen, "no store directory given");
        return VG_ERR_IO;
    }
    if (make_dir(dir, why, whylen) != VG_OK)
        return VG_ERR_IO;
    s = calloc(1, sizeof(*s));
    len = strlen(dir) + sizeof("/" STORE_FILE);
    if (!s || !(s->path = malloc(len))) {
        vg_why(why, whylen, "out of memory");
        goto out;
    }
    snprintf(s->path, len, "%s/%s", dir, STORE_FILE);
    pthread_mutex_init(&s->lock, NULL);

    if (sqlite3_open_v2(s->path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        vg_why(why, whylen, "cannot open %s: %s", s->path,
               s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    if (!set_pragmas(s->db, why, whylen) || !check_schema(s->db, why, whylen) ||
        !check_meta(s->db, why, whylen))
        goto out;
    if (!prepare_writer(s)) {
        vg_why(why, whylen, "cannot prepare the store's statements: %s", sqlite3_errmsg(s->db));
        goto out;
    }
    *out = s;
    s = NULL;
    err = VG_OK;
out:
    vg_store_close(s);
    return err;
}

void vg_store_close(vg_store *store)
{
    if (!store)
        return;
    sqlite3_finalize(store->find);
    sqlite3_finalize(store->insert);
    sqlite3_finalize(store->update);
    sqlite3_finalize(store->holders);
    sqlite3_finalize(store->begin);
    sqlite3_finalize(store->commit);
    sqlite3_finalize(store->rollback);
    sqlite3_finalize(store->set_generation);
    sqlite3_close(store->db);
    if (store->path)
        pthread_mutex_destroy(&store->lock);
    free(store->path);
    free(store);
}

/* ---- writing ------------------------------------------------------------------------- */

/* One record of a batch and its place in the caller's array. */
typedef struct slot {
    const vg_record *rec;
    size_t idx;
} slot;

/* Key order, then input order: equal keys keep the order the caller gave them. */
static int slot_cmp(const void *a, const void *b)
{
    const slot *x = a, *y = b;
    int c;

    if (x->rec->dept != y->rec->dept)
        return x->rec->dept < y->rec->dept ? -1 : 1;
    c = strcmp(x->rec->key, y->rec->key);
    if (c)
        return c;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

/* The growing list of touched ID numbers. */
typedef struct idlist {
    char (*ids)[VG_ID_LEN + 1];
    size_t n, cap;
} idlist;

static vg_err idlist_add(idlist *l, const char *id)
{
    if (!l)
        return VG_OK;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        void *p = realloc(l->ids, cap * sizeof(*l->ids));

        if (!p)
            return VG_ERR_NOMEM;
        l->ids = p;
        l->cap = cap;
    }
    snprintf(l->ids[l->n++], VG_ID_LEN + 1, "%s", id);
    return VG_OK;
}

static int id_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void idlist_dedup(idlist *l)
{
    size_t w = 0;

    if (l->n == 0)
        return;
    qsort(l->ids, l->n, sizeof(*l->ids), id_cmp);
    for (size_t i = 1; i < l->n; i++)
        if (strcmp(l->ids[i], l->ids[w]) != 0)
            memcpy(l->ids[++w], l->ids[i], sizeof(*l->ids));
    l->n = w + 1;
}

/* The 原证编号 a record enters the reissue index under, or NULL. */
static const char *orig_of(const vg_record *r)
{
    if (r->dept != VG_DEPT_HEALTH || r->u.health.state != VG_CERT_REISSUED ||
        !r->u.health.orig_no[0])
        return NULL;
    return r->u.health.orig_no;
}

/* Adds the holders of the health certificates numbered no (under any ID number). */
static vg_err add_holders(vg_store *s, const char *no, idlist *touched)
{
    sqlite3_stmt *st = s->holders;
    vg_err err = VG_OK;
    vg_record cert;
    const char *id;
    int rc;

    sqlite3_bind_int(st, 1, VG_DEPT_HEALTH);
    sqlite3_bind_text(st, 2, no, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const void *blob = sqlite3_column_blob(st, 1);
        int len = sqlite3_column_bytes(st, 1);

        /* The key range can also hold a number that merely begins with no and a '|'. */
        if (vg_record_decode(blob, (size_t)len, &cert) != VG_OK)
            continue;
        if (strcmp(cert.u.health.certificate_no, no) != 0)
            continue;
        id = (const char *)sqlite3_column_text(st, 0);
        err = id ? idlist_add(touched, id) : VG_ERR_NOMEM;
        if (err != VG_OK)
            break;
    }
    if (err == VG_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
        err = VG_ERR_IO;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return err;
}

static void bind_record(sqlite3_stmt *st, const vg_record *r, const uint8_t *blob, size_t len)
{
    const char *orig = orig_of(r);

    sqlite3_bind_int(st, 1, r->dept);
    sqlite3_bind_text(st, 2, r->key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, r->id_number, -1, SQLITE_STATIC);
    if (orig)
        sqlite3_bind_text(st, 4, orig, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 4);
    sqlite3_bind_blob(st, 5, blob, (int)len, SQLITE_STATIC);
}

/* Runs an insert or update of r; VG_OK once the row is written. */
static vg_err write_row(sqlite3_stmt *st, const vg_record *r, const uint8_t *blob, size_t len)
{
    int rc;

    bind_record(st, r, blob, len);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? VG_OK : VG_ERR_IO;
}

/* Stores one record inside the open transaction and says what happened to it. The ID
 * numbers of a replaced row (when they differ) are touched too: that person's status
 * changes as well. */
static vg_err put_one(vg_store *s, const vg_record *r, vg_put_outcome *outcome, idlist *touched)
{
    sqlite3_stmt *find = s->find;
    size_t len = vg_record_encode(r, s->blob, sizeof(s->blob));
    char old_id[VG_ID_LEN + 1] = "", old_orig[VG_KEY_MAX] = "";
    int rc, same = 0;
    vg_err err = VG_OK;

    if (len > sizeof(s->blob) || len > INT_MAX)
        return VG_ERR_TOO_BIG;

    sqlite3_bind_int(find, 1, r->dept);
    sqlite3_bind_text(find, 2, r->key, -1, SQLITE_STATIC);
    rc = sqlite3_step(find);
    if (rc == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(find, 0);
        const char *orig = (const char *)sqlite3_column_text(find, 1);

        snprintf(old_id, sizeof(old_id), "%s", id ? id : "");
        snprintf(old_orig, sizeof(old_orig), "%s", orig ? orig : "");
        same = (size_t)sqlite3_column_bytes(find, 2) == len &&
               memcmp(sqlite3_column_blob(find, 2), s->blob, len) == 0;
    }
    sqlite3_reset(find);
    sqlite3_clear_bindings(find);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return VG_ERR_IO;

    if (rc == SQLITE_DONE) {
        *outcome = VG_PUT_STORED;
        err = write_row(s->insert, r, s->blob, len);
    } else if (same) {
        *outcome = VG_PUT_HELD;
    } else {
        *outcome = VG_PUT_UPDATED;
        err = write_row(s->update, r, s->blob, len);
        if (err == VG_OK && strcmp(old_id, r->id_number) != 0)
            err = idlist_add(touched, old_id);
        if (err == VG_OK && old_orig[0] && (!orig_of(r) || strcmp(old_orig, orig_of(r)) != 0))
            err = add_holders(s, old_orig, touched);
    }
    if (err == VG_OK)
        err = idlist_add(touched, r->id_number);
    if (err == VG_OK && orig_of(r))
        err = add_holders(s, r->u.health.orig_no, touched);
    return err;
}

static int step_once(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    return rc == SQLITE_DONE;
}

static vg_err check_batch(const vg_record *recs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((int)recs[i].dept < 0 || recs[i].dept >= VG_DEPT_COUNT || !recs[i].key[0])
            return VG_ERR_INVALID;
    return VG_OK;
}

/* Durability: the connection runs in WAL mode with synchronous=FULL, so COMMIT returns only
 * after the WAL frames of the transaction have been written and fsync'ed. Once this
 * function has returned VG_OK the batch is on disk, and a process killed at any point
 * after that (or the machine losing power) recovers it from the WAL when the store is next
 * opened. A process killed before the COMMIT leaves an uncommitted tail in the WAL, which
 * recovery ignores: the batch is then wholly absent, never half there.
 *
 * Speed: the batch is written in key order (the table's order), so neighbouring inserts
 * land on the same pages; outcomes still follow the caller's order. */
vg_err vg_store_put(vg_store *store, const vg_record *recs, size_t n, vg_put_outcome *outcomes,
                    char (**touched)[VG_ID_LEN + 1], size_t *ntouched)
{
    idlist ids = {0};
    idlist *want = touched ? &ids : NULL;
    slot *order = NULL;
    vg_err err;
    int in_txn = 0;

    if (touched)
        *touched = NULL;
    if (ntouched)
        *ntouched = 0;
    if (!store || (n && (!recs || !outcomes)))
        return VG_ERR_INVALID;
    if (n == 0)
        return VG_OK;
    err = check_batch(recs, n);
    if (err != VG_OK)
        return err;
    order = malloc(n * sizeof(*order));
    if (!order)
        return VG_ERR_IO;
    for (size_t i = 0; i < n; i++)
        order[i] = (slot){&recs[i], i};
    qsort(order, n, sizeof(*order), slot_cmp);

    pthread_mutex_lock(&store->lock);
    err = VG_ERR_IO;
    if (!step_once(store->begin))
        goto out;
    in_txn = 1;
    for (size_t i = 0; i < n; i++) {
        err = put_one(store, order[i].rec, &outcomes[order[i].idx], want);
        if (err != VG_OK)
            goto out;
    }
    err = step_once(store->commit) ? VG_OK : VG_ERR_IO;
    if (err == VG_OK)
        in_txn = 0;
out:
    if (in_txn)
        step_once(store->rollback);
    pthread_mutex_unlock(&store->lock);
    free(order);
    if (err != VG_OK) {
        free(ids.ids);
        return VG_ERR_IO;
    }
    if (touched) {
        idlist_dedup(&ids);
        *touched = ids.ids;
        if (ntouched)
            *ntouched = ids.n;
    }
    return VG_OK;
}

/* ---- reading ------------------------------------------------------------------------- */

vg_err vg_store_reader_open(vg_store *store, vg_store_reader **out)
{
    vg_store_reader *r;
    vg_err err = VG_ERR_IO;

    *out = NULL;
    if (!store)
        return VG_ERR_INVALID;
    r = calloc(1, sizeof(*r));
    if (!r)
        return VG_ERR_NOMEM;
    if (sqlite3_open_v2(store->path, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK)
        goto out;
    sqlite3_busy_timeout(r->db, BUSY_TIMEOUT_MS);
    /* Lookups read the file through a memory map: no read(2) and no copy per page. */
    exec1(r->db, "PRAGMA mmap_size = " READER_MMAP_BYTES);
    if (!prepare(r->db, "SELECT content FROM record WHERE id_number = ?1", &r->by_id) ||
        !prepare(r->db,
                 "SELECT content FROM record "
                 "WHERE orig_no = ?1 AND dept = ?2 AND id_number <> ?3",
                 &r->reissues) ||
        !prepare(r->db, "SELECT dept, count(*) FROM record GROUP BY dept", &r->count) ||
        !prepare(r->db, "PRAGMA data_version", &r->data_version) ||
        !prepare(r->db, "SELECT value FROM meta WHERE name = 'cache_generation'", &r->generation))
        goto out;
    r->seen_version = -1;
    *out = r;
    r = NULL;
    err = VG_OK;
out:
    vg_store_reader_close(r);
    return err;
}

void vg_store_reader_close(vg_store_reader *reader)
{
    if (!reader)
        return;
    sqlite3_finalize(reader->by_id);
    sqlite3_finalize(reader->reissues);
    sqlite3_finalize(reader->count);
    sqlite3_finalize(reader->data_version);
    sqlite3_finalize(reader->generation);
    sqlite3_close(reader->db);
    free(reader);
}

/* Makes room for one more record in *arr; NULL when memory runs out. */
static vg_record *grow(vg_record **arr, size_t n, size_t *cap)
{
    if (n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        vg_record *p = realloc(*arr, ncap * sizeof(**arr));

        if (!p)
            return NULL;
        *arr = p;
        *cap = ncap;
    }
    return &(*arr)[n];
}

/* Steps st to the end, decoding each row's column 0 into a new entry of *arr. */
static vg_err collect(sqlite3_stmt *st, vg_record **arr, size_t *n, size_t *cap)
{
    int rc;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const void *blob = sqlite3_column_blob(st, 0);
        size_t len = (size_t)sqlite3_column_bytes(st, 0);
        vg_record *slot = grow(arr, *n, cap);

        if (!slot)
            return VG_ERR_NOMEM;
        if (!blob || vg_record_decode(blob, len, slot) != VG_OK)
            return VG_ERR_IO;
        (*n)++;
    }
    return rc == SQLITE_DONE ? VG_OK : VG_ERR_IO;
}

/* 1 when an earlier health record of recs (before index i) bears the same number. */
static int number_seen(const vg_record *recs, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (recs[j].dept == VG_DEPT_HEALTH &&
            strcmp(recs[j].u.health.certificate_no, recs[i].u.health.certificate_no) == 0)
            return 1;
    return 0;
}

vg_err vg_store_get_person(vg_store_reader *reader, const char *id, vg_person_records *out)
{
    vg_err err;

    if (!reader || !id || !out)
        return VG_ERR_INVALID;
    out->nrecs = 0;
    out->nreissues = 0;
    snprintf(out->id_number, sizeof(out->id_number), "%s", id);

    sqlite3_bind_text(reader->by_id, 1, id, -1, SQLITE_STATIC);
    err = collect(reader->by_id, &out->recs, &out->nrecs, &out->cap_recs);
    sqlite3_reset(reader->by_id);
    sqlite3_clear_bindings(reader->by_id);

    /* Reissues under this ID number are in recs already; the query skips them. */
    for (size_t i = 0; err == VG_OK && i < out->nrecs; i++) {
        const vg_record *c = &out->recs[i];
        sqlite3_stmt *st = reader->reissues;

        if (c->dept != VG_DEPT_HEALTH || !c->u.health.certificate_no[0] ||
            number_seen(out->recs, i))
            continue;
        sqlite3_bind_text(st, 1, c->u.health.certificate_no, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, VG_DEPT_HEALTH);
        sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
        err = collect(st, &out->reissues, &out->nreissues, &out->cap_reissues);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
    if (err != VG_OK) {
        out->nrecs = 0;
        out->nreissues = 0;
    }
    return err;
}

void vg_person_records_free(vg_person_records *recs)
{
    if (!recs)
        return;
    free(recs->recs);
    free(recs->reissues);
    recs->recs = NULL;
    recs->reissues = NULL;
    recs->nrecs = recs->nreissues = 0;
    recs->cap_recs = recs->cap_reissues = 0;
}

vg_err vg_store_count(vg_store_reader *reader, size_t counts[VG_DEPT_COUNT])
{
    sqlite3_stmt *st;
    int rc;

    if (!reader)
        return VG_ERR_INVALID;
    st = reader->count;
    for (int i = 0; i < VG_DEPT_COUNT; i++)
        counts[i] = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int dept = sqlite3_column_int(st, 0);

        if (dept >= 0 && dept < VG_DEPT_COUNT)
            counts[dept] = (size_t)sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? VG_OK : VG_ERR_IO;
}

/* ---- cache generation ------------------------------------------------------------------ */

/* Reads the one-row result of st into *v; VG_OK when there was a row. */
static vg_err step_int(sqlite3_stmt *st, long long *v)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW)
        *v = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? VG_OK : VG_ERR_IO;
}

/* data_version changes whenever another connection commits, so the row is read again only
 * then. It is read before the row: a commit between the two makes the next call read the
 * row again, never keep an old value. */
vg_err vg_store_cache_generation(vg_store_reader *reader, uint64_t *gen)
{
    long long version, value;

    if (!reader || !gen)
        return VG_ERR_INVALID;
    if (step_int(reader->data_version, &version) != VG_OK)
        return VG_ERR_IO;
    if (version != reader->seen_version) {
        if (step_int(reader->generation, &value) != VG_OK)
            return VG_ERR_IO;
        reader->generation_value = (uint64_t)value;
        reader->seen_version = version;
    }
    *gen = reader->generation_value;
    return VG_OK;
}

/* Durability as for vg_store_put: the update is its own transaction, committed with
 * synchronous=FULL before the new value is returned. */
vg_err vg_store_bump_cache_generation(vg_store *store, uint64_t *gen)
{
    uint64_t v;
    vg_err err = VG_ERR_IO;
    int in_txn = 0;

    if (!store)
        return VG_ERR_INVALID;
    if (random64(&v) != 0)
        return VG_ERR_IO;
    pthread_mutex_lock(&store->lock);
    if (!step_once(store->begin))
        goto out;
    in_txn = 1;
    sqlite3_bind_int64(store->set_generation, 1, (sqlite3_int64)v);
    if (!step_once(store->set_generation) || sqlite3_changes(store->db) != 1)
        goto out;
    if (!step_once(store->commit))
        goto out;
    in_txn = 0;
    err = VG_OK;
out:
    sqlite3_clear_bindings(store->set_generation);
    if (in_txn)
        step_once(store->rollback);
    pthread_mutex_unlock(&store->lock);
    if (err == VG_OK && gen)
        *gen = v;
    return err;
}
