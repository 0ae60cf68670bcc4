/* config.c - reads the gateway's libconfig file into a vg_config and checks every setting,
 * so that the server starts only with a configuration it fully understands.
 *
 * Each refusal names the file, the line and the setting ("FILE:LINE: SETTING: reason").
 * Unknown settings are refused rather than ignored: a misspelt "purposes" must not quietly
 * leave a consumer without limits. Whether the TLS files exist is the server's concern. */
#include "vg_config.h"

#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vg_log.h"

#define NAME_MAX_LEN 128 /* longest setting name an error message spells out */

/* What every loading step needs: the file, its folder, the result and the error text. */
typedef struct loader {
    const char *path;      /* the file as given */
    char dir[VG_PATH_MAX]; /* the file's folder, absolute, without symbolic links */
    vg_config *cfg;
    char *why;
    size_t whylen;
} loader;

static const char *const top_settings[] = {
    "listen",
    "data_dir",
    "log_level",
    "threads",
    "max_message_bytes",
    "shutdown_grace_ms",
    "max_batch_records",
    "tls",
    "purposes",
    "principals",
    "redis",
    "audit",
};
static const char *const tls_settings[] = {"ca", "cert", "key", "crl"};
static const char *const redis_settings[] = {
    "enabled",           "address", "user", "password", "db", "ttl_s", "connect_timeout_ms",
    "command_timeout_ms"};
static const char *const audit_settings[] = {"enabled", "dir", "signing_key",
                                             "checkpoint_interval_ms", "checkpoint_entries"};
static const char *const purpose_settings[] = {"code", "description"};
static const char *const principal_settings[] = {"name", "role", "department", "purposes",
                                                 "fields"};

static const struct {
    const char *word;
    unsigned bit;
} field_groups[] = {
    {"status", VG_FIELDS_STATUS},
    {"names", VG_FIELDS_NAMES},
    {"places", VG_FIELDS_PLACES},
    {"cause_of_death", VG_FIELDS_CAUSE},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Writes "FILE:LINE: NAME: reason" for the setting s (or its nearest parent that has a
 * line; "FILE: NAME: reason" when none has) and returns VG_ERR_CONFIG. */
static vg_err fail(loader *ld, const config_setting_t *s, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static vg_err fail(loader *ld, const config_setting_t *s, const char *name, const char *fmt, ...)
{
    const char *file = ld->path;
    unsigned line = 0;
    va_list ap;
    int n;

    while (s && config_setting_source_line(s) == 0)
        s = config_setting_parent(s);
    if (s) {
        line = config_setting_source_line(s);
        if (config_setting_source_file(s))
            file = config_setting_source_file(s);
    }
    if (!ld->why || ld->whylen == 0)
        return VG_ERR_CONFIG;

    /* A required setting missing at the top of the file has no line to point at. */
    if (line > 0)
        n = snprintf(ld->why, ld->whylen, "%s:%u: %s: ", file, line, name);
    else
        n = snprintf(ld->why, ld->whylen, "%s: %s: ", file, name);
    if (n >= 0 && (size_t)n < ld->whylen) {
        va_start(ap, fmt);
        vsnprintf(ld->why + n, ld->whylen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return VG_ERR_CONFIG;
}

/* Reports an allocation failure and returns VG_ERR_NOMEM. */
static vg_err out_of_memory(loader *ld)
{
    if (ld->why && ld->whylen > 0)
        snprintf(ld->why, ld->whylen, "%s: out of memory", ld->path);
    return VG_ERR_NOMEM;
}

/* Returns buf, which snprintf filled with n characters; a name cut short ends in "...". */
static const char *cut_name(char *buf, size_t len, int n)
{
    if ((n < 0 || (size_t)n >= len) && len >= 4)
        memcpy(buf + len - 4, "...", 4);
    return buf;
}

/* "prefix.key", or "key" at the top level, into buf. */
static const char *setting_name(char *buf, size_t len, const char *prefix, const char *key)
{
    if (prefix && *prefix)
        return cut_name(buf, len, snprintf(buf, len, "%s.%s", prefix, key));
    return cut_name(buf, len, snprintf(buf, len, "%s", key));
}

/* "prefix[index]" into buf. */
static const char *element_name(char *buf, size_t len, const char *prefix, int index)
{
    return cut_name(buf, len, snprintf(buf, len, "%s[%d]", prefix, index));
}

static const char *type_word(int type)
{
    switch (type) {
    case CONFIG_TYPE_GROUP:
        return "a group";
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        return "an integer";
    case CONFIG_TYPE_FLOAT:
        return "a number with a fraction";
    case CONFIG_TYPE_STRING:
        return "a string";
    case CONFIG_TYPE_BOOL:
        return "a boolean";
    case CONFIG_TYPE_ARRAY:
        return "an array";
    case CONFIG_TYPE_LIST:
        return "a list";
    }
    return "an unknown kind of value";
}

/* Refuses any member of group whose name is not in known. */
static vg_err check_known(loader *ld, const config_setting_t *group, const char *prefix,
                          const char *const *known, size_t nknown)
{
    char name[NAME_MAX_LEN];

    for (int i = 0; i < config_setting_length(group); i++) {
        const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        const char *key = config_setting_name(s);
        size_t k = 0;

        while (k < nknown && strcmp(key, known[k]) != 0)
            k++;
        if (k == nknown)
            return fail(ld, s, setting_name(name, sizeof(name), prefix, key), "unknown setting");
    }
    return VG_OK;
}

/* Finds the member key of parent and checks it has the type want (CONFIG_TYPE_INT also
 * admits 64-bit integers). *out is NULL when the member is absent, which is an error only
 * when required. */
static vg_err get_member(loader *ld, const config_setting_t *parent, const char *prefix,
                         const char *key, int want, int required, config_setting_t **out)
{
    config_setting_t *s = config_setting_get_member(parent, key);
    char name[NAME_MAX_LEN];
    int type;

    *out = NULL;
    setting_name(name, sizeof(name), prefix, key);
    if (!s) {
        if (required)
            return fail(ld, parent, name, "missing (it is required)");
        return VG_OK;
    }

    type = config_setting_type(s);
    if (want == CONFIG_TYPE_INT && type == CONFIG_TYPE_INT64)
        type = CONFIG_TYPE_INT;
    if (type != want)
        return fail(ld, s, name, "must be %s, not %s", type_word(want),
                    type_word(config_setting_type(s)));
    *out = s;
    return VG_OK;
}

/* Reads the string member key of parent into *out (NULL when absent and optional). Empty
 * strings are refused. The string belongs to libconfig. */
static vg_err get_string(loader *ld, const config_setting_t *parent, const char *prefix,
                         const char *key, int required, const char **out)
{
    config_setting_t *s;
    char name[NAME_MAX_LEN];
    vg_err err;

    *out = NULL;
    err = get_member(ld, parent, prefix, key, CONFIG_TYPE_STRING, required, &s);
    if (err != VG_OK || !s)
        return err;
    if (*config_setting_get_string(s) == '\0')
        return fail(ld, s, setting_name(name, sizeof(name), prefix, key), "must not be empty");
    *out = config_setting_get_string(s);
    return VG_OK;
}

/* Reads the optional integer member key of parent into *out, which keeps its default when
 * the member is absent. Values outside min..max are refused. */
static vg_err get_integer_in(loader *ld, const config_setting_t *parent, const char *prefix,
                             const char *key, long long min, long long max, long long *out)
{
    config_setting_t *s;
    char name[NAME_MAX_LEN];
    long long v;
    vg_err err;

    err = get_member(ld, parent, prefix, key, CONFIG_TYPE_INT, 0, &s);
    if (err != VG_OK || !s)
        return err;
    v = config_setting_get_int64(s);
    if (v < min || v > max)
        return fail(ld, s, setting_name(name, sizeof(name), prefix, key),
                    "%lld is out of range (%lld..%lld)", v, min, max);
    *out = v;
    return VG_OK;
}

static vg_err get_integer(loader *ld, const config_setting_t *parent, const char *key,
                          long long min, long long max, long long *out)
{
    return get_integer_in(ld, parent, NULL, key, min, max, out);
}

/* Reads the optional int member key of parent into *out, keeping the default when absent. */
static vg_err get_int_in(loader *ld, const config_setting_t *parent, const char *prefix,
                         const char *key, long long min, long long max, int *out)
{
    long long v = *out;
    vg_err err = get_integer_in(ld, parent, prefix, key, min, max, &v);

    if (err == VG_OK)
        *out = (int)v;
    return err;
}

/* Reads the optional boolean member key of parent into *out. */
static vg_err get_bool(loader *ld, const config_setting_t *parent, const char *prefix,
                       const char *key, int *out)
{
    config_setting_t *s;
    vg_err err = get_member(ld, parent, prefix, key, CONFIG_TYPE_BOOL, 0, &s);

    if (err == VG_OK && s)
        *out = config_setting_get_bool(s);
    return err;
}

/* Copies the optional string member key of parent (may be empty) into dst. */
static vg_err get_text(loader *ld, const config_setting_t *parent, const char *prefix,
                       const char *key, char *dst, size_t len)
{
    config_setting_t *s;
    char name[NAME_MAX_LEN];
    vg_err err = get_member(ld, parent, prefix, key, CONFIG_TYPE_STRING, 0, &s);

    if (err != VG_OK || !s)
        return err;
    if (strlen(config_setting_get_string(s)) >= len)
        return fail(ld, s, setting_name(name, sizeof(name), prefix, key), "longer than %zu bytes",
                    len - 1);
    snprintf(dst, len, "%s", config_setting_get_string(s));
    return VG_OK;
}

/* Copies a path from the file into dst: absolute paths as they are, relative ones after the
 * file's folder. */
static vg_err resolve_path(loader *ld, const config_setting_t *s, const char *name,
                           const char *value, char dst[VG_PATH_MAX])
{
    int n;

    if (value[0] == '/')
        n = snprintf(dst, VG_PATH_MAX, "%s", value);
    else
        n = snprintf(dst, VG_PATH_MAX, "%s/%s", ld->dir, value);
    if (n < 0 || n >= VG_PATH_MAX)
        return fail(ld, s, name, "the path is longer than %d bytes", VG_PATH_MAX - 1);
    return VG_OK;
}

/* Reads a required path member of parent into dst. */
static vg_err get_path(loader *ld, const config_setting_t *parent, const char *prefix,
                       const char *key, char dst[VG_PATH_MAX])
{
    char name[NAME_MAX_LEN];
    const char *value;
    vg_err err;

    err = get_string(ld, parent, prefix, key, 1, &value);
    if (err != VG_OK)
        return err;
    return resolve_path(ld, config_setting_get_member(parent, key),
                        setting_name(name, sizeof(name), prefix, key), value, dst);
}

/* Checks HOST:PORT (an IPv6 host in brackets) and returns NULL, or the reason it is not. */
static const char *listen_problem(const char *v)
{
    const char *colon;
    const char *port;
    long n = 0;

    if (v[0] == '[') {
        const char *close = strchr(v, ']');

        if (!close || close == v + 1)
            return "an IPv6 host needs its closing bracket, as in [::1]:7443";
        if (close[1] != ':')
            return "no port: write HOST:PORT (port 0 picks a free port)";
        colon = close + 1;
    } else {
        colon = strrchr(v, ':');
        if (!colon)
            return "no port: write HOST:PORT (port 0 picks a free port)";
        if (strchr(v, ':') != colon)
            return "an IPv6 host goes in brackets, as in [::1]:7443";
        if (colon == v)
            return "no host: write HOST:PORT, for example 127.0.0.1:7443";
    }

    port = colon + 1;
    if (*port == '\0')
        return "no port: write HOST:PORT (port 0 picks a free port)";
    for (const char *p = port; *p; p++) {
        if (*p < '0' || *p > '9' || p - port >= 5)
            return "the port must be a number from 0 to 65535";
        n = n * 10 + (*p - '0');
    }
    if (n > 65535)
        return "the port must be a number from 0 to 65535";
    return NULL;
}

/* The listen setting, when given. */
static vg_err load_listen(loader *ld, const config_setting_t *root)
{
    const char *value;
    const char *problem;
    vg_err err;

    err = get_string(ld, root, NULL, "listen", 0, &value);
    if (err != VG_OK || !value)
        return err;
    if (strlen(value) >= sizeof(ld->cfg->listen))
        problem = "too long";
    else
        problem = listen_problem(value);
    if (problem)
        return fail(ld, config_setting_get_member(root, "listen"), "listen", "\"%s\": %s", value,
                    problem);
    snprintf(ld->cfg->listen, sizeof(ld->cfg->listen), "%s", value);
    return VG_OK;
}

/* The log_level setting, when given. */
static vg_err load_log_level(loader *ld, const config_setting_t *root)
{
    const char *word;
    vg_err err;

    err = get_string(ld, root, NULL, "log_level", 0, &word);
    if (err != VG_OK || !word)
        return err;
    ld->cfg->log_level = vg_log_level_parse(word);
    if (ld->cfg->log_level < 0)
        return fail(ld, config_setting_get_member(root, "log_level"), "log_level",
                    "unknown level \"%s\" (error, warn, info or debug)", word);
    return VG_OK;
}

/* The single settings at the top of the file. */
static vg_err load_scalars(loader *ld, const config_setting_t *root)
{
    vg_config *cfg = ld->cfg;
    long long threads = cfg->threads;
    long long msg = cfg->max_message_bytes;
    long long grace = cfg->shutdown_grace_ms;
    long long batch = cfg->max_batch_records;
    vg_err err;

    err = load_listen(ld, root);
    if (err == VG_OK)
        err = get_path(ld, root, NULL, "data_dir", cfg->data_dir);
    if (err == VG_OK)
        err = load_log_level(ld, root);
    if (err == VG_OK)
        err = get_integer(ld, root, "threads", 1, 64, &threads);
    if (err == VG_OK)
        err = get_integer(ld, root, "max_message_bytes", 1024, INT_MAX, &msg);
    if (err == VG_OK)
        err = get_integer(ld, root, "shutdown_grace_ms", 0, 600000, &grace);
    if (err == VG_OK)
        err = get_integer(ld, root, "max_batch_records", 1, 1000000, &batch);
    if (err != VG_OK)
        return err;

    cfg->threads = (int)threads;
    cfg->max_message_bytes = (long)msg;
    cfg->shutdown_grace_ms = (int)grace;
    cfg->max_batch_records = (long)batch;
    return VG_OK;
}

/* The tls group: CA, server certificate and key, all required. */
static vg_err load_tls(loader *ld, const config_setting_t *root)
{
    config_setting_t *tls;
    vg_err err;

    err = get_member(ld, root, NULL, "tls", CONFIG_TYPE_GROUP, 1, &tls);
    if (err == VG_OK)
        err = check_known(ld, tls, "tls", tls_settings, COUNT(tls_settings));
    if (err == VG_OK)
        err = get_path(ld, tls, "tls", "ca", ld->cfg->tls_ca);
    if (err == VG_OK)
        err = get_path(ld, tls, "tls", "cert", ld->cfg->tls_cert);
    if (err == VG_OK)
        err = get_path(ld, tls, "tls", "key", ld->cfg->tls_key);
    if (err == VG_OK && config_setting_get_member(tls, "crl"))
        err = get_path(ld, tls, "tls", "crl", ld->cfg->tls_crl);
    return err;
}

/* The optional redis group. */
static vg_err load_redis(loader *ld, const config_setting_t *root)
{
    vg_cache_config *c = &ld->cfg->cache;
    config_setting_t *g;
    vg_err err;

    err = get_member(ld, root, NULL, "redis", CONFIG_TYPE_GROUP, 0, &g);
    if (err != VG_OK || !g)
        return err;
    c->enabled = 1; /* a redis group turns the cache on unless it says otherwise */
    err = check_known(ld, g, "redis", redis_settings, COUNT(redis_settings));
    if (err == VG_OK)
        err = get_bool(ld, g, "redis", "enabled", &c->enabled);
    if (err == VG_OK)
        err = get_text(ld, g, "redis", "address", c->address, sizeof(c->address));
    if (err == VG_OK)
        err = get_text(ld, g, "redis", "user", c->user, sizeof(c->user));
    if (err == VG_OK)
        err = get_text(ld, g, "redis", "password", c->password, sizeof(c->password));
    if (err == VG_OK)
        err = get_int_in(ld, g, "redis", "db", 0, 1000000, &c->db);
    if (err == VG_OK)
        err = get_int_in(ld, g, "redis", "ttl_s", 1, 30 * 86400, &c->ttl_s);
    if (err == VG_OK)
        err = get_int_in(ld, g, "redis", "connect_timeout_ms", 1, 60000, &c->connect_timeout_ms);
    if (err == VG_OK)
        err = get_int_in(ld, g, "redis", "command_timeout_ms", 1, 60000, &c->command_timeout_ms);
    if (err == VG_OK && c->enabled && !c->address[0])
        err = fail(ld, g, "redis.address", "required when the cache is enabled");
    return err;
}

/* The optional audit group; its paths default to DATA_DIR/audit and the server's key. */
static vg_err load_audit(loader *ld, const config_setting_t *root)
{
    vg_audit_config *a = &ld->cfg->audit;
    config_setting_t *g;
    vg_err err;

    err = get_member(ld, root, NULL, "audit", CONFIG_TYPE_GROUP, 0, &g);
    if (err == VG_OK && g)
        err = check_known(ld, g, "audit", audit_settings, COUNT(audit_settings));
    if (err == VG_OK && g)
        err = get_bool(ld, g, "audit", "enabled", &a->enabled);
    if (err == VG_OK && g && config_setting_get_member(g, "dir"))
        err = get_path(ld, g, "audit", "dir", a->dir);
    if (err == VG_OK && g && config_setting_get_member(g, "signing_key"))
        err = get_path(ld, g, "audit", "signing_key", a->signing_key);
    if (err == VG_OK && g)
        err = get_int_in(ld, g, "audit", "checkpoint_interval_ms", 10, 3600000,
                         &a->checkpoint_interval_ms);
    if (err == VG_OK && g)
        err =
            get_int_in(ld, g, "audit", "checkpoint_entries", 1, 100000000, &a->checkpoint_entries);
    if (err != VG_OK)
        return err;
    if (!a->dir[0] &&
        snprintf(a->dir, sizeof(a->dir), "%s/audit", ld->cfg->data_dir) >= (int)sizeof(a->dir))
        return fail(ld, root, "audit.dir", "the path is too long");
    if (!a->signing_key[0])
        snprintf(a->signing_key, sizeof(a->signing_key), "%s", ld->cfg->tls_key);
    return VG_OK;
}

/* Checks that the optional member key of root is a list of groups; *out is NULL and *n 0
 * when it is absent. */
static vg_err get_group_list(loader *ld, const config_setting_t *root, const char *key,
                             config_setting_t **out, size_t *n)
{
    char name[NAME_MAX_LEN];
    vg_err err;

    *n = 0;
    err = get_member(ld, root, NULL, key, CONFIG_TYPE_LIST, 0, out);
    if (err != VG_OK || !*out)
        return err;
    for (int i = 0; i < config_setting_length(*out); i++) {
        const config_setting_t *e = config_setting_get_elem(*out, (unsigned)i);

        if (config_setting_type(e) != CONFIG_TYPE_GROUP)
            return fail(ld, e, element_name(name, sizeof(name), key, i), "must be a group, not %s",
                        type_word(config_setting_type(e)));
    }
    *n = (size_t)config_setting_length(*out);
    return VG_OK;
}

/* One entry of the purposes list, stored at the end of cfg->purposes. */
static vg_err load_purpose(loader *ld, const config_setting_t *e, const char *prefix)
{
    vg_config *cfg = ld->cfg;
    vg_purpose *p = &cfg->purposes[cfg->npurposes];
    const char *code;
    const char *description;
    char name[NAME_MAX_LEN];
    vg_err err;

    err = check_known(ld, e, prefix, purpose_settings, COUNT(purpose_settings));
    if (err == VG_OK)
        err = get_string(ld, e, prefix, "code", 1, &code);
    if (err == VG_OK)
        err = get_string(ld, e, prefix, "description", 0, &description);
    if (err != VG_OK)
        return err;

    if (vg_config_purpose(cfg, code))
        return fail(ld, config_setting_get_member(e, "code"),
                    setting_name(name, sizeof(name), prefix, "code"),
                    "purpose \"%s\" is defined twice", code);

    p->code = strdup(code);
    p->description = strdup(description ? description : "");
    cfg->npurposes++;
    if (!p->code || !p->description)
        return out_of_memory(ld);
    return VG_OK;
}

static vg_err load_purposes(loader *ld, const config_setting_t *root)
{
    config_setting_t *list;
    char prefix[NAME_MAX_LEN];
    size_t n;
    vg_err err;

    err = get_group_list(ld, root, "purposes", &list, &n);
    if (err != VG_OK || n == 0)
        return err;
    ld->cfg->purposes = calloc(n, sizeof(*ld->cfg->purposes));
    if (!ld->cfg->purposes)
        return out_of_memory(ld);

    for (size_t i = 0; i < n && err == VG_OK; i++)
        err = load_purpose(ld, config_setting_get_elem(list, (unsigned)i),
                           element_name(prefix, sizeof(prefix), "purposes", (int)i));
    return err;
}

/* Checks that the member key of e is an array or list of strings; *out is NULL when it is
 * absent. */
static vg_err get_string_array(loader *ld, const config_setting_t *e, const char *prefix,
                               const char *key, config_setting_t **out)
{
    config_setting_t *s = config_setting_get_member(e, key);
    char name[NAME_MAX_LEN];
    char elem[NAME_MAX_LEN];

    *out = NULL;
    if (!s)
        return VG_OK;
    setting_name(name, sizeof(name), prefix, key);
    if (config_setting_type(s) != CONFIG_TYPE_ARRAY && config_setting_type(s) != CONFIG_TYPE_LIST)
        return fail(ld, s, name, "must be an array of strings, not %s",
                    type_word(config_setting_type(s)));
    for (int i = 0; i < config_setting_length(s); i++) {
        const config_setting_t *v = config_setting_get_elem(s, (unsigned)i);

        if (config_setting_type(v) != CONFIG_TYPE_STRING)
            return fail(ld, v, element_name(elem, sizeof(elem), name, i),
                        "must be a string, not %s", type_word(config_setting_type(v)));
    }
    *out = s;
    return VG_OK;
}

/* A consumer's purposes (at least one, each defined in the purposes list). */
static vg_err load_consumer_purposes(loader *ld, const config_setting_t *e, const char *prefix,
                                     vg_principal *p)
{
    config_setting_t *list;
    char name[NAME_MAX_LEN];
    char elem[NAME_MAX_LEN];
    vg_err err;
    int n;

    err = get_string_array(ld, e, prefix, "purposes", &list);
    if (err != VG_OK)
        return err;
    setting_name(name, sizeof(name), prefix, "purposes");
    n = list ? config_setting_length(list) : 0;
    if (n == 0)
        return fail(ld, list ? list : e, name, "a consumer needs at least one purpose");

    p->purposes = calloc((size_t)n, sizeof(*p->purposes));
    if (!p->purposes)
        return out_of_memory(ld);
    for (int i = 0; i < n; i++) {
        const config_setting_t *v = config_setting_get_elem(list, (unsigned)i);
        const char *code = config_setting_get_string(v);

        if (!vg_config_purpose(ld->cfg, code))
            return fail(ld, v, element_name(elem, sizeof(elem), name, i),
                        "purpose \"%s\" is not defined in purposes", code);
        p->purposes[i] = strdup(code);
        if (!p->purposes[i])
            return out_of_memory(ld);
        p->npurposes++;
    }
    return VG_OK;
}

/* A consumer's field groups; status is always given. */
static vg_err load_consumer_fields(loader *ld, const config_setting_t *e, const char *prefix,
                                   vg_principal *p)
{
    config_setting_t *list;
    char name[NAME_MAX_LEN];
    char elem[NAME_MAX_LEN];
    vg_err err;

    p->fields = VG_FIELDS_STATUS;
    err = get_string_array(ld, e, prefix, "fields", &list);
    if (err != VG_OK || !list)
        return err;
    setting_name(name, sizeof(name), prefix, "fields");

    for (int i = 0; i < config_setting_length(list); i++) {
        const config_setting_t *v = config_setting_get_elem(list, (unsigned)i);
        const char *word = config_setting_get_string(v);
        size_t k = 0;

        while (k < COUNT(field_groups) && strcmp(word, field_groups[k].word) != 0)
            k++;
        if (k == COUNT(field_groups))
            return fail(ld, v, element_name(elem, sizeof(elem), name, i),
                        "unknown field group \"%s\" (status, names, places or "
                        "cause_of_death)",
                        word);
        p->fields |= field_groups[k].bit;
    }
    return VG_OK;
}

/* Parses a role word into *out; 0 when it is none of the three. */
static int parse_role(const char *word, vg_role *out)
{
    static const char *const words[] = {"department", "consumer", "auditor"};
    static const vg_role roles[] = {VG_ROLE_KIND_DEPARTMENT, VG_ROLE_KIND_CONSUMER,
                                    VG_ROLE_KIND_AUDITOR};

    for (size_t i = 0; i < COUNT(words); i++) {
        if (strcmp(word, words[i]) == 0) {
            *out = roles[i];
            return 1;
        }
    }
    return 0;
}

/* What only one role may say: a department for department roles, purposes and fields for
 * consumers. */
static vg_err load_role_settings(loader *ld, const config_setting_t *e, const char *prefix,
                                 vg_principal *p)
{
    const char *dept = NULL;
    char name[NAME_MAX_LEN];
    vg_err err;

    err = get_string(ld, e, prefix, "department", p->role == VG_ROLE_KIND_DEPARTMENT, &dept);
    if (err != VG_OK)
        return err;
    setting_name(name, sizeof(name), prefix, "department");
    if (dept && p->role != VG_ROLE_KIND_DEPARTMENT)
        return fail(ld, config_setting_get_member(e, "department"), name,
                    "only a principal with role \"department\" has a department");
    if (dept && vg_department_parse(dept, &p->dept) != VG_OK)
        return fail(ld, config_setting_get_member(e, "department"), name,
                    "unknown department \"%s\" (cremation, health, household or disability)", dept);

    if (p->role == VG_ROLE_KIND_CONSUMER) {
        err = load_consumer_purposes(ld, e, prefix, p);
        if (err == VG_OK)
            err = load_consumer_fields(ld, e, prefix, p);
        return err;
    }
    for (size_t i = 0; i < 2; i++) {
        const char *key = i == 0 ? "purposes" : "fields";
        const config_setting_t *s = config_setting_get_member(e, key);

        if (s)
            return fail(ld, s, setting_name(name, sizeof(name), prefix, key),
                        "only a principal with role \"consumer\" has %s", key);
    }
    return VG_OK;
}

/* One entry of the principals list, stored at the end of cfg->principals. */
static vg_err load_principal(loader *ld, const config_setting_t *e, const char *prefix)
{
    vg_config *cfg = ld->cfg;
    vg_principal *p = &cfg->principals[cfg->nprincipals];
    const char *pname;
    const char *role;
    char name[NAME_MAX_LEN];
    vg_err err;

    err = check_known(ld, e, prefix, principal_settings, COUNT(principal_settings));
    if (err == VG_OK)
        err = get_string(ld, e, prefix, "name", 1, &pname);
    if (err == VG_OK)
        err = get_string(ld, e, prefix, "role", 1, &role);
    if (err != VG_OK)
        return err;

    if (vg_config_principal(cfg, pname))
        return fail(ld, config_setting_get_member(e, "name"),
                    setting_name(name, sizeof(name), prefix, "name"),
                    "principal \"%s\" is defined twice", pname);
    if (!parse_role(role, &p->role))
        return fail(ld, config_setting_get_member(e, "role"),
                    setting_name(name, sizeof(name), prefix, "role"),
                    "unknown role \"%s\" (department, consumer or auditor)", role);

    /* Counted before the role's settings are read so vg_config_free sees what they add. */
    cfg->nprincipals++;
    p->name = strdup(pname);
    if (!p->name)
        return out_of_memory(ld);
    return load_role_settings(ld, e, prefix, p);
}

static vg_err load_principals(loader *ld, const config_setting_t *root)
{
    config_setting_t *list;
    char prefix[NAME_MAX_LEN];
    size_t n;
    vg_err err;

    err = get_group_list(ld, root, "principals", &list, &n);
    if (err != VG_OK || n == 0)
        return err;
    ld->cfg->principals = calloc(n, sizeof(*ld->cfg->principals));
    if (!ld->cfg->principals)
        return out_of_memory(ld);

    for (size_t i = 0; i < n && err == VG_OK; i++)
        err = load_principal(ld, config_setting_get_elem(list, (unsigned)i),
                             element_name(prefix, sizeof(prefix), "principals", (int)i));
    return err;
}

/* Writes "FILE: cannot read: reason" and returns VG_ERR_CONFIG. */
static vg_err unreadable(loader *ld, const char *reason)
{
    if (ld->why && ld->whylen > 0)
        snprintf(ld->why, ld->whylen, "%s: cannot read: %s", ld->path, reason);
    return VG_ERR_CONFIG;
}

/* Finds the absolute folder of ld->path and reads the file into lc. */
static vg_err read_file(loader *ld, config_t *lc)
{
    char folder[VG_PATH_MAX];
    char real[PATH_MAX];
    const char *slash = strrchr(ld->path, '/');
    const char *file;

    if (!slash)
        snprintf(folder, sizeof(folder), ".");
    else if (slash == ld->path)
        snprintf(folder, sizeof(folder), "/");
    else
        snprintf(folder, sizeof(folder), "%.*s", (int)(slash - ld->path), ld->path);
    if (!realpath(folder, real))
        return unreadable(ld, strerror(errno));
    if (strlen(real) >= sizeof(ld->dir))
        return unreadable(ld, "its folder's name is too long");
    memcpy(ld->dir, real, strlen(real) + 1);

    /* @include in the file resolves against the same folder as the paths in it. */
    config_set_include_dir(lc, ld->dir);
    errno = 0;
    if (config_read_file(lc, ld->path))
        return VG_OK;

    if (config_error_type(lc) == CONFIG_ERR_FILE_IO)
        return unreadable(ld, errno ? strerror(errno) : config_error_text(lc));
    if (ld->why && ld->whylen > 0) {
        file = config_error_file(lc) ? config_error_file(lc) : ld->path;
        snprintf(ld->why, ld->whylen, "%s:%d: cannot parse: %s", file, config_error_line(lc),
                 config_error_text(lc));
    }
    return VG_ERR_CONFIG;
}

/* A config holding the defaults for every optional setting. */
static vg_config *config_new(const char *path)
{
    vg_config *cfg = calloc(1, sizeof(*cfg));

    if (!cfg)
        return NULL;
    snprintf(cfg->path, sizeof(cfg->path), "%s", path);
    snprintf(cfg->listen, sizeof(cfg->listen), "127.0.0.1:7443");
    cfg->threads = 2;
    cfg->max_message_bytes = 4L * 1024 * 1024;
    cfg->shutdown_grace_ms = 10000;
    cfg->log_level = VG_LOG_INFO;
    cfg->max_batch_records = 5000;
    cfg->cache.enabled = 0;
    cfg->cache.ttl_s = 3600;
    cfg->cache.connect_timeout_ms = 200;
    cfg->cache.command_timeout_ms = 100;
    cfg->audit.enabled = 1;
    cfg->audit.checkpoint_interval_ms = 5000;
    cfg->audit.checkpoint_entries = 10000;
    return cfg;
}

vg_err vg_config_load(const char *path, vg_config **out, char *why, size_t whylen)
{
    loader ld = {.path = path, .why = why, .whylen = whylen};
    config_setting_t *root;
    config_t lc;
    vg_err err;

    if (out)
        *out = NULL;
    if (why && whylen > 0)
        why[0] = '\0';
    if (!path || !out) {
        if (why && whylen > 0)
            snprintf(why, whylen, "no configuration file given");
        return VG_ERR_INVALID;
    }

    config_init(&lc);
    if (strlen(path) >= VG_PATH_MAX) {
        err = unreadable(&ld, "the file name is too long");
        goto out;
    }
    err = read_file(&ld, &lc);
    if (err != VG_OK)
        goto out;
    ld.cfg = config_new(path);
    if (!ld.cfg) {
        err = out_of_memory(&ld);
        goto out;
    }

    /* Purposes come before principals: a consumer may only name a defined purpose. */
    root = config_root_setting(&lc);
    err = check_known(&ld, root, NULL, top_settings, COUNT(top_settings));
    if (err == VG_OK)
        err = load_scalars(&ld, root);
    if (err == VG_OK)
        err = load_tls(&ld, root);
    if (err == VG_OK)
        err = load_purposes(&ld, root);
    if (err == VG_OK)
        err = load_principals(&ld, root);
    if (err == VG_OK)
        err = load_redis(&ld, root);
    if (err == VG_OK)
        err = load_audit(&ld, root);

out:
    config_destroy(&lc);
    if (err != VG_OK) {
        vg_config_free(ld.cfg);
        return err;
    }
    *out = ld.cfg;
    return VG_OK;
}

void vg_config_free(vg_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->nprincipals; i++) {
        vg_principal *p = &cfg->principals[i];

        for (size_t k = 0; k < p->npurposes; k++)
            free(p->purposes[k]);
        free(p->purposes);
        free(p->name);
    }
    free(cfg->principals);
    for (size_t i = 0; i < cfg->npurposes; i++) {
        free(cfg->purposes[i].code);
        free(cfg->purposes[i].description);
    }
    free(cfg->purposes);
    free(cfg);
}

const vg_principal *vg_config_principal(const vg_config *cfg, const char *name)
{
    if (!cfg || !name)
        return NULL;
    for (size_t i = 0; i < cfg->nprincipals; i++)
        if (cfg->principals[i].name && strcmp(cfg->principals[i].name, name) == 0)
            return &cfg->principals[i];
    return NULL;
}

const vg_purpose *vg_config_purpose(const vg_config *cfg, const char *code)
{
    if (!cfg || !code)
        return NULL;
    for (size_t i = 0; i < cfg->npurposes; i++)
        if (cfg->purposes[i].code && strcmp(cfg->purposes[i].code, code) == 0)
            return &cfg->purposes[i];
    return NULL;
}

int vg_principal_allows_purpose(const vg_principal *p, const char *code)
{
    if (!p || !code || p->role != VG_ROLE_KIND_CONSUMER)
        return 0;
    for (size_t i = 0; i < p->npurposes; i++)
        if (strcmp(p->purposes[i], code) == 0)
            return 1;
    return 0;
}
