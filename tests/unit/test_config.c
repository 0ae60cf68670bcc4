/* test_config.c - the configuration loader: the demo file's values, defaults, path
 * resolution, lookups, and one refusal per kind of mistake, each naming file, line and
 * setting. */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vg_config.h"
#include "vg_log.h"

/* A temporary folder for the files each test writes (its real path). */
static char tmpdir[256];

/* The two settings every file needs; the lines after them start at line 3. */
#define BASE                                                                                       \
    "data_dir = \"data\";\n"                                                                       \
    "tls = { ca = \"ca.crt\"; cert = \"server.crt\"; key = \"server.key\"; };\n"

/* Two purposes on line 3 of a file that starts with BASE. */
#define PURPOSES "purposes = ( { code = \"p1\"; }, { code = \"p2\"; } );\n"

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int make_tmpdir(void **state)
{
    char tmpl[] = "/tmp/vg-test-config.XXXXXX";
    char real[PATH_MAX];

    (void)state;
    if (!mkdtemp(tmpl) || !realpath(tmpl, real) || strlen(real) >= sizeof(tmpdir))
        return -1;
    memcpy(tmpdir, real, strlen(real) + 1);
    return 0;
}

static int remove_tmpdir(void **state)
{
    (void)state;
    return nftw(tmpdir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Writes text to tmpdir/name and returns the file's path in path. */
static void write_file(const char *name, const char *text, char *path, size_t len)
{
    FILE *f;

    snprintf(path, len, "%s/%s", tmpdir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* Loads text as tmpdir/name and expects success. */
static vg_config *load_text(const char *name, const char *text)
{
    char path[PATH_MAX];
    char why[512];
    vg_config *cfg = NULL;
    vg_err err;

    write_file(name, text, path, sizeof(path));
    err = vg_config_load(path, &cfg, why, sizeof(why));
    if (err != VG_OK)
        fail_msg("loading %s failed: %s", name, why);
    assert_non_null(cfg);
    return cfg;
}

static void test_demo_config(void **state)
{
    const char *path = VG_SOURCE_DIR "/config/vitalgate.conf";
    char folder[PATH_MAX];
    char want[PATH_MAX + 64];
    char why[512];
    vg_config *cfg = NULL;
    const vg_principal *p;

    (void)state;
    assert_non_null(realpath(VG_SOURCE_DIR "/config", folder));
    assert_int_equal(vg_config_load(path, &cfg, why, sizeof(why)), VG_OK);
    assert_non_null(cfg);

    assert_string_equal(cfg->path, path);
    assert_string_equal(cfg->listen, "127.0.0.1:7443");
    snprintf(want, sizeof(want), "%s/../var/data", folder);
    assert_string_equal(cfg->data_dir, want);
    snprintf(want, sizeof(want), "%s/../certs/dev/ca.crt", folder);
    assert_string_equal(cfg->tls_ca, want);
    snprintf(want, sizeof(want), "%s/../certs/dev/server.crt", folder);
    assert_string_equal(cfg->tls_cert, want);
    snprintf(want, sizeof(want), "%s/../certs/dev/server.key", folder);
    assert_string_equal(cfg->tls_key, want);
    assert_int_equal(cfg->log_level, VG_LOG_INFO);
    assert_int_equal(cfg->threads, 2);
    assert_int_equal(cfg->max_message_bytes, 4194304);
    assert_int_equal(cfg->shutdown_grace_ms, 10000);
    assert_int_equal(cfg->max_batch_records, 5000);

    assert_int_equal(cfg->npurposes, 2);
    assert_string_equal(cfg->purposes[0].code, "welfare-stop-check");
    assert_string_equal(cfg->purposes[1].code, "disability-allowance-review");
    assert_true(strlen(cfg->purposes[0].description) > 0);
    assert_ptr_equal(vg_config_purpose(cfg, "disability-allowance-review"), &cfg->purposes[1]);
    assert_null(vg_config_purpose(cfg, "welfare"));

    assert_int_equal(cfg->nprincipals, 6);
    static const struct {
        const char *name;
        vg_department dept;
    } depts[] = {{"cremation", VG_DEPT_CREMATION},
                 {"health", VG_DEPT_HEALTH},
                 {"household", VG_DEPT_HOUSEHOLD},
                 {"disability", VG_DEPT_DISABILITY}};
    for (size_t i = 0; i < sizeof(depts) / sizeof(depts[0]); i++) {
        p = vg_config_principal(cfg, depts[i].name);
        assert_non_null(p);
        assert_int_equal(p->role, VG_ROLE_KIND_DEPARTMENT);
        assert_int_equal(p->dept, depts[i].dept);
        assert_int_equal(p->npurposes, 0);
        assert_false(vg_principal_allows_purpose(p, "welfare-stop-check"));
    }

    p = vg_config_principal(cfg, "welfare");
    assert_non_null(p);
    assert_int_equal(p->role, VG_ROLE_KIND_CONSUMER);
    assert_int_equal(p->fields, VG_FIELDS_STATUS | VG_FIELDS_NAMES | VG_FIELDS_PLACES);
    assert_int_equal(p->npurposes, 2);
    assert_true(vg_principal_allows_purpose(p, "welfare-stop-check"));
    assert_true(vg_principal_allows_purpose(p, "disability-allowance-review"));
    assert_false(vg_principal_allows_purpose(p, "Welfare-Stop-Check"));
    assert_false(vg_principal_allows_purpose(p, ""));

    p = vg_config_principal(cfg, "auditor");
    assert_non_null(p);
    assert_int_equal(p->role, VG_ROLE_KIND_AUDITOR);
    assert_false(vg_principal_allows_purpose(p, "welfare-stop-check"));

    assert_null(vg_config_principal(cfg, "stranger"));
    assert_null(vg_config_principal(cfg, "Welfare"));
    assert_null(vg_config_principal(cfg, ""));
    vg_config_free(cfg);
}

static void test_defaults(void **state)
{
    vg_config *cfg = load_text("defaults.conf", BASE);

    (void)state;
    assert_string_equal(cfg->listen, "127.0.0.1:7443");
    assert_int_equal(cfg->log_level, VG_LOG_INFO);
    assert_int_equal(cfg->threads, 2);
    assert_int_equal(cfg->max_message_bytes, 4L * 1024 * 1024);
    assert_int_equal(cfg->shutdown_grace_ms, 10000);
    assert_int_equal(cfg->max_batch_records, 5000);
    assert_int_equal(cfg->nprincipals, 0);
    assert_int_equal(cfg->npurposes, 0);
    assert_null(vg_config_principal(cfg, "welfare"));
    vg_config_free(cfg);
}

static void test_values_replace_defaults(void **state)
{
    vg_config *cfg = load_text("values.conf", BASE "listen = \"[::1]:0\";\n"
                                                   "log_level = \"debug\";\n"
                                                   "threads = 64;\n"
                                                   "max_message_bytes = 2147483647L;\n"
                                                   "shutdown_grace_ms = 0;\n"
                                                   "max_batch_records = 1;\n");

    (void)state;
    assert_string_equal(cfg->listen, "[::1]:0");
    assert_int_equal(cfg->log_level, VG_LOG_DEBUG);
    assert_int_equal(cfg->threads, 64);
    assert_int_equal(cfg->max_message_bytes, 2147483647L);
    assert_int_equal(cfg->shutdown_grace_ms, 0);
    assert_int_equal(cfg->max_batch_records, 1);
    vg_config_free(cfg);

    cfg = load_text("values.conf", BASE "listen = \"localhost:65535\";\n");
    assert_string_equal(cfg->listen, "localhost:65535");
    vg_config_free(cfg);
}

static void test_paths(void **state)
{
    char want[PATH_MAX + 64];
    char cwd[PATH_MAX];
    char why[512];
    vg_config *cfg;

    (void)state;
    cfg = load_text("paths.conf", "data_dir = \"/srv/vitalgate/data\";\n"
                                  "tls = { ca = \"pki/ca.crt\"; cert = \"/etc/vg/server.crt\";\n"
                                  "        key = \"../keys/server.key\"; };\n");
    assert_string_equal(cfg->data_dir, "/srv/vitalgate/data");
    snprintf(want, sizeof(want), "%s/pki/ca.crt", tmpdir);
    assert_string_equal(cfg->tls_ca, want);
    assert_string_equal(cfg->tls_cert, "/etc/vg/server.crt");
    snprintf(want, sizeof(want), "%s/../keys/server.key", tmpdir);
    assert_string_equal(cfg->tls_key, want);
    vg_config_free(cfg);

    /* A file named without a folder resolves against the working directory's real path. */
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(tmpdir), 0);
    cfg = NULL;
    assert_int_equal(vg_config_load("paths.conf", &cfg, why, sizeof(why)), VG_OK);
    assert_int_equal(chdir(cwd), 0);
    assert_non_null(cfg);
    assert_string_equal(cfg->path, "paths.conf");
    snprintf(want, sizeof(want), "%s/pki/ca.crt", tmpdir);
    assert_string_equal(cfg->tls_ca, want);
    vg_config_free(cfg);
}

static void test_consumer_fields(void **state)
{
    vg_config *cfg;
    const vg_principal *p;

    (void)state;
    cfg = load_text("fields.conf", BASE PURPOSES
                    "principals = (\n"
                    "  { name = \"a\"; role = \"consumer\"; purposes = [\"p2\"]; },\n"
                    "  { name = \"b\"; role = \"consumer\"; purposes = (\"p1\", \"p2\");\n"
                    "    fields = [\"cause_of_death\"]; },\n"
                    "  { name = \"c\"; role = \"consumer\"; purposes = [\"p1\"];\n"
                    "    fields = [\"status\", \"names\", \"places\", \"cause_of_death\"]; }\n"
                    ");\n");

    p = vg_config_principal(cfg, "a");
    assert_non_null(p);
    assert_int_equal(p->fields, VG_FIELDS_STATUS);
    assert_true(vg_principal_allows_purpose(p, "p2"));
    assert_false(vg_principal_allows_purpose(p, "p1"));

    p = vg_config_principal(cfg, "b");
    assert_non_null(p);
    assert_int_equal(p->fields, VG_FIELDS_STATUS | VG_FIELDS_CAUSE);
    assert_true(vg_principal_allows_purpose(p, "p1"));
    assert_true(vg_principal_allows_purpose(p, "p2"));

    p = vg_config_principal(cfg, "c");
    assert_non_null(p);
    assert_int_equal(p->fields,
                     VG_FIELDS_STATUS | VG_FIELDS_NAMES | VG_FIELDS_PLACES | VG_FIELDS_CAUSE);
    vg_config_free(cfg);
}

/* One file the loader must refuse, and where and why it must say so. */
typedef struct bad_case {
    const char *what;
    const char *text;
    int line; /* 0: the message has no line */
    const char *setting;
    const char *reason;
} bad_case;

static const bad_case bad_cases[] = {
    {"unknown top-level setting", BASE "listne = \"127.0.0.1:1\";\n", 3, "listne",
     "unknown setting"},
    {"unknown setting in tls",
     "data_dir = \"d\";\n"
     "tls = { ca = \"a\"; cert = \"b\";\n"
     "  key = \"c\"; crls = \"d\"; };\n",
     3, "tls.crls", "unknown setting"},
    {"string for an integer", BASE "\nthreads = \"2\";\n", 4, "threads",
     "must be an integer, not a string"},
    {"fraction for an integer", BASE "max_message_bytes = 4.5;\n", 3, "max_message_bytes",
     "must be an integer"},
    {"integer for a string", BASE "log_level = 3;\n", 3, "log_level", "must be a string"},
    {"group for a list", BASE "principals = { name = \"x\"; };\n", 3, "principals",
     "must be a list, not a group"},
    /* libconfig numbers a value by the token after it, so the list closes on its line. */
    {"string in the principals list", BASE "principals = (\n  \"welfare\" );\n", 4, "principals[0]",
     "must be a group"},
    {"threads 0", BASE "threads = 0;\n", 3, "threads", "out of range (1..64)"},
    {"threads 65", BASE "threads = 65;\n", 3, "threads", "out of range (1..64)"},
    {"message limit too small", BASE "max_message_bytes = 10;\n", 3, "max_message_bytes",
     "out of range"},
    {"listen without port", BASE "\n\nlisten = \"127.0.0.1\";\n", 5, "listen", "no port"},
    {"listen with empty port", BASE "listen = \"127.0.0.1:\";\n", 3, "listen", "no port"},
    {"listen with port too high", BASE "listen = \"127.0.0.1:65536\";\n", 3, "listen",
     "0 to 65535"},
    {"listen with a word for port", BASE "listen = \"localhost:https\";\n", 3, "listen",
     "0 to 65535"},
    {"listen with bare IPv6", BASE "listen = \"::1:7443\";\n", 3, "listen", "brackets"},
    {"listen without host", BASE "listen = \":7443\";\n", 3, "listen", "no host"},
    {"unknown log level", BASE "log_level = \"loud\";\n", 3, "log_level", "unknown level"},
    {"empty data_dir",
     "data_dir = \"\";\n"
     "tls = { ca = \"a\"; cert = \"b\"; key = \"c\"; };\n",
     1, "data_dir", "must not be empty"},
    {"missing data_dir", "tls = { ca = \"a\"; cert = \"b\"; key = \"c\"; };\n", 0, "data_dir",
     "missing"},
    {"missing tls", "data_dir = \"d\";\n", 0, "tls", "missing"},
    {"missing tls key", "data_dir = \"d\";\n\ntls = { ca = \"a\"; cert = \"b\"; };\n", 3, "tls.key",
     "missing"},
    {"unknown role", BASE PURPOSES "principals = (\n  { name = \"a\"; role = \"admin\"; }\n);\n", 5,
     "principals[0].role", "unknown role \"admin\""},
    {"department role without department",
     BASE PURPOSES "principals = (\n"
                   "  { name = \"a\"; role = \"auditor\"; },\n"
                   "  { name = \"b\"; role = \"department\"; }\n);\n",
     6, "principals[1].department", "missing"},
    {"department role with unknown department",
     BASE PURPOSES "principals = (\n"
                   "  { name = \"a\"; role = \"department\";\n"
                   "    department = \"police\"; }\n);\n",
     6, "principals[0].department", "unknown department \"police\""},
    {"department on a consumer",
     BASE PURPOSES "principals = (\n"
                   "  { name = \"a\"; role = \"consumer\"; purposes = [\"p1\"];\n"
                   "    department = \"health\"; }\n);\n",
     6, "principals[0].department", "only a principal with role \"department\""},
    {"purposes on a department",
     BASE PURPOSES "principals = (\n"
                   "  { name = \"a\"; role = \"department\"; department = \"health\";\n"
                   "    purposes = [\"p1\"]; }\n);\n",
     6, "principals[0].purposes", "only a principal with role \"consumer\""},
    {"consumer purpose not defined",
     BASE PURPOSES "principals = (\n"
                   "  { name = \"w\"; role = \"consumer\";\n"
                   "    purposes = [\"p1\",\n"
                   "                \"p9\"]; }\n);\n",
     7, "principals[0].purposes[1]", "purpose \"p9\" is not defined in purposes"},
    {"consumer without purposes",
     BASE PURPOSES "principals = (\n  { name = \"w\"; role = \"consumer\"; }\n);\n", 5,
     "principals[0].purposes", "at least one purpose"},
    {"consumer with empty purposes",
     BASE PURPOSES "principals = (\n  { name = \"w\"; role = \"consumer\";\n"
                   "    purposes = []; }\n);\n",
     6, "principals[0].purposes", "at least one purpose"},
    {"purpose that is not a string",
     BASE PURPOSES "principals = (\n  { name = \"w\"; role = \"consumer\";\n"
                   "    purposes = [1]; }\n);\n",
     6, "principals[0].purposes[0]", "must be a string"},
    {"unknown field group",
     BASE PURPOSES "principals = (\n"
                   "  { name = \"w\"; role = \"consumer\"; purposes = [\"p1\"];\n"
                   "    fields = [\"names\", \"addresses\"]; }\n);\n",
     6, "principals[0].fields[1]", "unknown field group \"addresses\""},
    {"duplicate principal name",
     BASE PURPOSES "principals = (\n"
                   "  { name = \"auditor\"; role = \"auditor\"; },\n"
                   "  { name = \"health\"; role = \"department\"; department = \"health\"; },\n"
                   "  { name = \"auditor\"; role = \"auditor\"; }\n);\n",
     7, "principals[2].name", "principal \"auditor\" is defined twice"},
    {"principal without name", BASE PURPOSES "principals = (\n  { role = \"auditor\"; }\n);\n", 5,
     "principals[0].name", "missing"},
    {"unknown setting in a principal",
     BASE PURPOSES "principals = (\n  { name = \"a\"; role = \"auditor\"; rol = \"x\"; }\n);\n", 5,
     "principals[0].rol", "unknown setting"},
    {"duplicate purpose code",
     BASE "purposes = (\n"
          "  { code = \"p1\"; description = \"one\"; },\n"
          "  { code = \"p1\"; description = \"again\"; }\n"
          ");\n",
     5, "purposes[1].code", "purpose \"p1\" is defined twice"},
    {"purpose without code", BASE "purposes = (\n  { description = \"x\"; }\n);\n", 4,
     "purposes[0].code", "missing"},
};

static void test_bad_files(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const bad_case *c = &bad_cases[i];
        char path[PATH_MAX];
        char prefix[PATH_MAX + 128];
        char why[1024];
        vg_config *cfg = (vg_config *)1;
        vg_err err;

        write_file("bad.conf", c->text, path, sizeof(path));
        err = vg_config_load(path, &cfg, why, sizeof(why));
        if (err != VG_ERR_CONFIG)
            fail_msg("%s: returned %d (%s), want VG_ERR_CONFIG", c->what, err, why);
        if (cfg != NULL)
            fail_msg("%s: *out is not NULL after an error", c->what);

        if (c->line > 0)
            snprintf(prefix, sizeof(prefix), "%s:%d: %s: ", path, c->line, c->setting);
        else
            snprintf(prefix, sizeof(prefix), "%s: %s: ", path, c->setting);
        if (strncmp(why, prefix, strlen(prefix)) != 0)
            fail_msg("%s: message \"%s\" does not start with \"%s\"", c->what, why, prefix);
        if (!strstr(why + strlen(prefix), c->reason))
            fail_msg("%s: message \"%s\" does not say \"%s\"", c->what, why, c->reason);
    }
}

static void test_long_setting_name(void **state)
{
    char text[512];
    char name[301];
    char path[PATH_MAX];
    char want[PATH_MAX + 64];
    char why[1024];
    vg_config *cfg = (vg_config *)1;

    (void)state;
    memset(name, 'x', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    snprintf(text, sizeof(text), BASE "%s = 1;\n", name);
    write_file("long.conf", text, path, sizeof(path));
    assert_int_equal(vg_config_load(path, &cfg, why, sizeof(why)), VG_ERR_CONFIG);
    assert_null(cfg);

    /* The name is cut short, visibly, and the line still leads to it. */
    snprintf(want, sizeof(want), "%s:3: xxxxxxxx", path);
    if (strncmp(why, want, strlen(want)) != 0)
        fail_msg("message \"%s\" does not start with \"%s\"", why, want);
    assert_non_null(strstr(why, "...: unknown setting"));
    assert_null(strstr(why, name));
}

static void test_syntax_error(void **state)
{
    char path[PATH_MAX];
    char want[PATH_MAX + 64];
    char why[512];
    vg_config *cfg = (vg_config *)1;

    (void)state;
    write_file("syntax.conf", BASE "\nthreads = ;\n", path, sizeof(path));
    assert_int_equal(vg_config_load(path, &cfg, why, sizeof(why)), VG_ERR_CONFIG);
    assert_null(cfg);
    snprintf(want, sizeof(want), "%s:4: cannot parse: ", path);
    if (strncmp(why, want, strlen(want)) != 0)
        fail_msg("message \"%s\" does not start with \"%s\"", why, want);

    /* libconfig itself refuses a setting given twice. */
    write_file("syntax.conf", BASE "threads = 2;\nthreads = 3;\n", path, sizeof(path));
    assert_int_equal(vg_config_load(path, &cfg, why, sizeof(why)), VG_ERR_CONFIG);
    snprintf(want, sizeof(want), "%s:4: cannot parse: ", path);
    if (strncmp(why, want, strlen(want)) != 0)
        fail_msg("message \"%s\" does not start with \"%s\"", why, want);
}

static void test_unreadable_file(void **state)
{
    char path[PATH_MAX];
    char why[512];
    vg_config *cfg = (vg_config *)1;

    (void)state;
    snprintf(path, sizeof(path), "%s/absent.conf", tmpdir);
    assert_int_equal(vg_config_load(path, &cfg, why, sizeof(why)), VG_ERR_CONFIG);
    assert_null(cfg);
    assert_non_null(strstr(why, path));
    assert_non_null(strstr(why, "cannot read"));
    assert_non_null(strstr(why, strerror(ENOENT)));

    cfg = (vg_config *)1;
    assert_int_equal(vg_config_load("/no/such/folder/x.conf", &cfg, why, sizeof(why)),
                     VG_ERR_CONFIG);
    assert_null(cfg);
    assert_non_null(strstr(why, "/no/such/folder/x.conf: cannot read"));
}

static void test_small_or_no_message_buffer(void **state)
{
    char path[PATH_MAX];
    char why[12];
    vg_config *cfg = (vg_config *)1;

    (void)state;
    write_file("bad.conf", BASE "threads = 0;\n", path, sizeof(path));
    memset(why, 'x', sizeof(why));
    assert_int_equal(vg_config_load(path, &cfg, why, sizeof(why)), VG_ERR_CONFIG);
    assert_null(cfg);
    assert_int_equal(strlen(why), sizeof(why) - 1);
    assert_int_equal(strncmp(why, path, sizeof(why) - 1), 0);

    cfg = (vg_config *)1;
    assert_int_equal(vg_config_load(path, &cfg, NULL, 0), VG_ERR_CONFIG);
    assert_null(cfg);
}

static void test_null_arguments(void **state)
{
    char why[64];
    vg_config *cfg = (vg_config *)1;

    (void)state;
    assert_int_equal(vg_config_load(NULL, &cfg, why, sizeof(why)), VG_ERR_INVALID);
    assert_null(cfg);
    vg_config_free(NULL);
    assert_null(vg_config_principal(NULL, "welfare"));
    assert_null(vg_config_purpose(NULL, "welfare-stop-check"));
    assert_false(vg_principal_allows_purpose(NULL, "welfare-stop-check"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_demo_config),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values_replace_defaults),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_consumer_fields),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_long_setting_name),
        cmocka_unit_test(test_syntax_error),
        cmocka_unit_test(test_unreadable_file),
        cmocka_unit_test(test_small_or_no_message_buffer),
        cmocka_unit_test(test_null_arguments),
    };

    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
