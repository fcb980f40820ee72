// Reading the YAML file into struct bertd_daemon_config.
//
// libyaml's document API gives a tree of nodes with their positions; this file walks it along
// the schema in config/README.md, one function per section, rejecting unknown and duplicate
// keys, missing required keys and values of the wrong type as it goes, and recording where every
// key was written. The checks that need the whole file read live in config_validate.c. A
// pipeline's `model:` and `batching:` sections are not read here but handed on as JSON (see
// "the stage's sections" below): the enrichment stage owns those settings and their defaults.
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <yaml.h>

#include "config_internal.h"

#define DEFAULT_BROKER_WAIT_MS 30000
#define DEFAULT_COMMIT_INTERVAL_MS 100
#define DEFAULT_RELOAD_INTERVAL_MS 2000

static const char *const framing_names[] = { "plain", "confluent" };
static const char *const delivery_names[] = { "at_least_once", "exactly_once" };
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

struct reader {
    yaml_document_t *doc;
    struct bertd_daemon_config *cfg;
    char *errstr;
    size_t errstr_size;
    char path[512]; // key path of the node being read, e.g. "pipelines[0].model"
    size_t path_len;
};

// ---- errors and positions ------------------------------------------------------------------

static void format_error(char *errstr, size_t errstr_size, const char *file,
                         struct bertd_dconf_pos pos, const char *path, const char *msg) {
    if (pos.line > 0)
        snprintf(errstr, errstr_size, "%s:%d:%d: %s%s%s", file, pos.line, pos.column, path,
                 path[0] ? ": " : "", msg);
    else
        snprintf(errstr, errstr_size, "%s: %s%s%s", file, path, path[0] ? ": " : "", msg);
}

static struct bertd_dconf_pos pos_of(const yaml_node_t *node) {
    struct bertd_dconf_pos pos = { (int)node->start_mark.line + 1, (int)node->start_mark.column + 1 };
    return pos;
}

__attribute__((format(printf, 3, 4)))
static int fail_node(struct reader *r, const yaml_node_t *node, const char *fmt, ...) {
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    format_error(r->errstr, r->errstr_size, r->cfg->path, pos_of(node), r->path, msg);
    return -1;
}

int bertd_dconf_fail(const struct bertd_daemon_config *cfg, const char *path, int at_value,
                char *errstr, size_t errstr_size, const char *fmt, ...) {
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const struct bertd_dconf_key *key = bertd_dconf_where(cfg, path);
    struct bertd_dconf_pos pos = { 0, 0 };
    if (key) pos = at_value ? key->value : key->key;
    format_error(errstr, errstr_size, cfg->path, pos, path, msg);
    return -1;
}

static int oom(struct reader *r, const yaml_node_t *node) { return fail_node(r, node, "out of memory"); }

// Appends ".key" (or "key" at the root) or "[index]" to the path; pop restores the saved length.
static size_t push_key(struct reader *r, const char *key) {
    size_t saved = r->path_len;
    int n = snprintf(r->path + r->path_len, sizeof r->path - r->path_len, "%s%s",
                     r->path_len ? "." : "", key);
    if (n > 0) r->path_len = strnlen(r->path, sizeof r->path - 1);
    return saved;
}

static size_t push_index(struct reader *r, size_t index) {
    size_t saved = r->path_len;
    int n = snprintf(r->path + r->path_len, sizeof r->path - r->path_len, "[%zu]", index);
    if (n > 0) r->path_len = strnlen(r->path, sizeof r->path - 1);
    return saved;
}

static void pop(struct reader *r, size_t saved) {
    r->path_len = saved;
    r->path[saved] = '\0';
}

// Records that the current path was written at key and value.
static int record(struct reader *r, const yaml_node_t *key, const yaml_node_t *value) {
    struct bertd_daemon_config *cfg = r->cfg;
    size_t n = cfg->key_count;
    if (n == 0 || (n >= 16 && (n & (n - 1)) == 0)) { // full: capacity is 16, 32, 64, ...
        size_t cap = n ? n * 2 : 16;
        struct bertd_dconf_key *keys = realloc(cfg->keys, cap * sizeof *keys);
        if (!keys) return oom(r, value);
        cfg->keys = keys;
    }
    char *path = strdup(r->path);
    if (!path) return oom(r, value);
    struct bertd_dconf_key *k = &cfg->keys[cfg->key_count++];
    k->path = path;
    k->key = pos_of(key);
    k->value = pos_of(value);
    return 0;
}

// ---- nodes ---------------------------------------------------------------------------------

static yaml_node_t *node_at(struct reader *r, yaml_node_item_t id) {
    return yaml_document_get_node(r->doc, id);
}

static const char *scalar(const yaml_node_t *node) { return (const char *)node->data.scalar.value; }

static int is_null(const yaml_node_t *node) {
    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *s = scalar(node);
    return !s[0] || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

// "a mapping", "a list", "null", "'abc'" for type errors.
static const char *describe(const yaml_node_t *node, char *buf, size_t size) {
    if (node->type == YAML_MAPPING_NODE) return "a mapping";
    if (node->type == YAML_SEQUENCE_NODE) return "a list";
    if (is_null(node)) return "null";
    const char *s = scalar(node);
    snprintf(buf, size, "%s'%.40s%s'", node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? "" : "the string ",
             s, strlen(s) > 40 ? "..." : "");
    return buf;
}

// The value of key in mapping node, or NULL.
static yaml_node_t *find(struct reader *r, yaml_node_t *node, const char *key) {
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node_at(r, p->key);
        if (k->type == YAML_SCALAR_NODE && strcmp(scalar(k), key) == 0) return node_at(r, p->value);
    }
    return NULL;
}

static int in_list(const char *s, const char *const *list) {
    for (; list && *list; list++)
        if (strcmp(s, *list) == 0) return 1;
    return 0;
}

// Checks that node is a mapping whose keys are scalars, each allowed (allowed == NULL: any),
// none twice and every required one present; records each key's position.
static int check_mapping(struct reader *r, yaml_node_t *node, const char *const *allowed,
                         const char *const *required) {
    char buf[64];
    if (node->type != YAML_MAPPING_NODE)
        return fail_node(r, node, "expected a mapping, got %s", describe(node, buf, sizeof buf));
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node_at(r, p->key), *v = node_at(r, p->value);
        if (k->type != YAML_SCALAR_NODE) return fail_node(r, k, "keys must be plain strings");
        if (allowed && !in_list(scalar(k), allowed)) return fail_node(r, k, "unknown key '%s'", scalar(k));
        for (yaml_node_pair_t *q = node->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *earlier = node_at(r, q->key);
            if (earlier->type == YAML_SCALAR_NODE && strcmp(scalar(earlier), scalar(k)) == 0)
                return fail_node(r, k, "duplicate key '%s' (first at line %d)", scalar(k),
                                 pos_of(earlier).line);
        }
        size_t saved = push_key(r, scalar(k));
        int rc = record(r, k, v);
        pop(r, saved);
        if (rc != 0) return -1;
    }
    // A missing key is reported at the key that holds this mapping (`model:`), which reads
    // better than the mapping's first key; the root and list items have no such key.
    for (; required && *required; required++) {
        if (find(r, node, *required)) continue;
        const struct bertd_dconf_key *holder = r->path_len ? bertd_dconf_where(r->cfg, r->path) : NULL;
        if (!holder) return fail_node(r, node, "missing required key '%s'", *required);
        char msg[128];
        snprintf(msg, sizeof msg, "missing required key '%s'", *required);
        format_error(r->errstr, r->errstr_size, r->cfg->path, holder->key, r->path, msg);
        return -1;
    }
    return 0;
}

// ---- typed values --------------------------------------------------------------------------
// Each reader is called with r->path naming the key; a NULL node (key absent) keeps the default.

// A scalar's text with ${NAME} expanded; a new string in *out.
static int expanded(struct reader *r, yaml_node_t *node, char **out) {
    char why[256];
    if (bertd_dconf_expand(scalar(node), r->cfg->dir, out, why, sizeof why) != 0)
        return fail_node(r, node, "%s", why);
    return 0;
}

static int read_string(struct reader *r, yaml_node_t *node, int nullable, char **dst) {
    char buf[64];
    if (!node) return 0;
    if (nullable && is_null(node)) return 0;
    if (node->type != YAML_SCALAR_NODE || is_null(node))
        return fail_node(r, node, "expected a string, got %s", describe(node, buf, sizeof buf));
    char *s = NULL;
    if (expanded(r, node, &s) != 0) return -1;
    if (!s[0]) {
        free(s);
        return fail_node(r, node, "must not be empty");
    }
    free(*dst);
    *dst = s;
    return 0;
}

// Numbers are plain scalars: a quoted "12" is a string, as in YAML itself.
static int number_text(struct reader *r, yaml_node_t *node, const char *what, char **text) {
    char buf[64];
    if (node->type != YAML_SCALAR_NODE || is_null(node) ||
        node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return fail_node(r, node, "expected %s, got %s", what, describe(node, buf, sizeof buf));
    return expanded(r, node, text);
}

static int read_int(struct reader *r, yaml_node_t *node, int min, int *dst) {
    char *text = NULL, *end = NULL;
    if (!node) return 0;
    if (number_text(r, node, "an integer", &text) != 0) return -1;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    int bad = errno != 0 || end == text || *end != '\0' || v > INT_MAX || v < INT_MIN;
    if (bad) {
        int rc = fail_node(r, node, "expected an integer, got '%.40s'", text);
        free(text);
        return rc;
    }
    free(text);
    if (v < min)
        return fail_node(r, node, "must be %s, got %lld", min == 1 ? "positive" : "zero or more", v);
    *dst = (int)v;
    return 0;
}

// One of names[0..count); *dst is its index. what: "task" gives "unknown task 'x' (...)".
static int read_enum(struct reader *r, yaml_node_t *node, const char *what,
                     const char *const *names, size_t count, int *dst) {
    char *s = NULL, expected[256] = "";
    if (!node) return 0;
    if (read_string(r, node, 0, &s) != 0) return -1;
    for (size_t i = 0; i < count; i++) {
        if (strcmp(s, names[i]) == 0) {
            free(s);
            *dst = (int)i;
            return 0;
        }
        size_t len = strlen(expected);
        snprintf(expected + len, sizeof expected - len, "%s%s", i == 0 ? "" : i + 1 == count ? " or " : ", ",
                 names[i]);
    }
    int rc = fail_node(r, node, "unknown %s '%.40s' (expected %s)", what, s, expected);
    free(s);
    return rc;
}

static int expect_list(struct reader *r, yaml_node_t *node, const char *what) {
    char buf[64];
    if (node->type != YAML_SEQUENCE_NODE)
        return fail_node(r, node, "expected a list of %s, got %s", what, describe(node, buf, sizeof buf));
    if (node->data.sequence.items.top == node->data.sequence.items.start)
        return fail_node(r, node, "the list of %s is empty", what);
    return 0;
}

static size_t list_length(const yaml_node_t *node) {
    return (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
}

static int read_string_list(struct reader *r, yaml_node_t *node, const char *what, char ***dst,
                            size_t *count) {
    if (expect_list(r, node, what) != 0) return -1;
    size_t n = list_length(node);
    *dst = calloc(n, sizeof **dst);
    if (!*dst) return oom(r, node);
    *count = n;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = node_at(r, node->data.sequence.items.start[i]);
        size_t saved = push_index(r, i);
        int rc = record(r, item, item) != 0 || read_string(r, item, 0, &(*dst)[i]) != 0 ? -1 : 0;
        pop(r, saved);
        if (rc != 0) return -1;
    }
    return 0;
}

// Reads the value of key in mapping node with reader fn, with the path extended by key.
#define FIELD(r, node, key, call)                                     \
    do {                                                              \
        yaml_node_t *value_ = find((r), (node), (key));               \
        size_t saved_ = push_key((r), (key));                         \
        int rc_ = (call);                                             \
        pop((r), saved_);                                             \
        if (rc_ != 0) return -1;                                      \
    } while (0)
#define VALUE value_

// ---- sections ------------------------------------------------------------------------------

static int read_kafka(struct reader *r, yaml_node_t *node) {
    static const char *const required[] = { "bootstrap.servers", "group.id", NULL };
    char buf[64];
    if (check_mapping(r, node, NULL, required) != 0) return -1;
    size_t n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
    r->cfg->kafka = calloc(n, sizeof *r->cfg->kafka);
    if (!r->cfg->kafka) return oom(r, node);
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *p = &node->data.mapping.pairs.start[i];
        yaml_node_t *k = node_at(r, p->key), *v = node_at(r, p->value);
        struct bertd_dconf_property *prop = &r->cfg->kafka[r->cfg->kafka_count++];
        size_t saved = push_key(r, scalar(k));
        int rc = 0;
        // librdkafka takes every property as a string, so numbers and booleans pass as written.
        if (v->type != YAML_SCALAR_NODE || is_null(v))
            rc = fail_node(r, v, "expected a librdkafka property value, got %s", describe(v, buf, sizeof buf));
        else if (!(prop->name = strdup(scalar(k))))
            rc = oom(r, k);
        else
            rc = expanded(r, v, &prop->value);
        pop(r, saved);
        if (rc != 0) return -1;
    }
    return 0;
}

static int read_input(struct reader *r, yaml_node_t *node, struct bertd_pipeline_config *pl) {
    static const char *const allowed[] = { "topics", "schema", "text_field", "text_pair_field", "framing", NULL };
    static const char *const required[] = { "topics", "schema", "text_field", NULL };
    int framing = BERTD_CONFIG_FRAMING_PLAIN;
    if (check_mapping(r, node, allowed, required) != 0) return -1;
    FIELD(r, node, "topics", read_string_list(r, VALUE, "topics", &pl->input.topics, &pl->input.topic_count));
    FIELD(r, node, "schema", read_string(r, VALUE, 0, &pl->input.schema));
    FIELD(r, node, "text_field", read_string(r, VALUE, 0, &pl->input.text_field));
    FIELD(r, node, "text_pair_field", read_string(r, VALUE, 1, &pl->input.text_pair_field));
    FIELD(r, node, "framing", read_enum(r, VALUE, "framing", framing_names, COUNT(framing_names), &framing));
    pl->input.framing = (enum bertd_dconf_framing)framing;
    return 0;
}

static int read_topic_section(struct reader *r, yaml_node_t *node, char **topic) {
    static const char *const keys[] = { "topic", NULL };
    if (check_mapping(r, node, keys, keys) != 0) return -1;
    FIELD(r, node, "topic", read_string(r, VALUE, 0, topic));
    return 0;
}

// ---- the stage's sections ------------------------------------------------------------------
// `model:` and `batching:` belong to the enrichment stage: one table in the plugin
// (plugin/plugin_config.c) names their keys, types, bounds and defaults, and this loader does not
// repeat it. It converts the two sections to the JSON text the plugin takes, typed as YAML types
// them (a plain 12 is an integer, a quoted "12" a string, ~ or null is null), with ${NAME}
// expanded and model.dir resolved against the file's directory, and records every key's
// position, so that the daemon can point an error the plugin reports at its line.

static int to_json(struct reader *r, yaml_node_t *node, json_t **out);

static int is_word(const char *s, const char *a, const char *b, const char *c) {
    return !strcmp(s, a) || !strcmp(s, b) || !strcmp(s, c);
}

static int scalar_to_json(struct reader *r, yaml_node_t *node, json_t **out) {
    char *text = NULL, *end = NULL;
    if (is_null(node)) {
        *out = json_null();
        return 0;
    }
    if (expanded(r, node, &text) != 0) return -1;
    if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || !text[0]) {
        *out = json_string(text);
    } else {
        errno = 0;
        long long i = strtoll(text, &end, 10);
        if (!*end && errno == 0) {
            *out = json_integer(i);
        } else {
            double d = strtod(text, &end);
            if (!*end && isfinite(d) && strpbrk(text, "0123456789"))
                *out = json_real(d);
            else if (is_word(text, "true", "True", "TRUE"))
                *out = json_true();
            else if (is_word(text, "false", "False", "FALSE"))
                *out = json_false();
            else
                *out = json_string(text);
        }
    }
    free(text);
    return *out ? 0 : fail_node(r, node, "not valid UTF-8 text");
}

static int mapping_to_json(struct reader *r, yaml_node_t *node, json_t **out) {
    if (check_mapping(r, node, NULL, NULL) != 0) return -1; // keys recorded, duplicates refused
    if (!(*out = json_object())) return oom(r, node);
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node_at(r, p->key);
        json_t *v = NULL;
        size_t saved = push_key(r, scalar(k));
        int rc = to_json(r, node_at(r, p->value), &v);
        pop(r, saved);
        if (rc != 0 || json_object_set_new(*out, scalar(k), v) != 0) {
            json_decref(*out);
            *out = NULL;
            return rc != 0 ? -1 : oom(r, k);
        }
    }
    return 0;
}

static int to_json(struct reader *r, yaml_node_t *node, json_t **out) {
    *out = NULL;
    if (node->type == YAML_MAPPING_NODE) return mapping_to_json(r, node, out);
    if (node->type == YAML_SCALAR_NODE) return scalar_to_json(r, node, out);
    if (!(*out = json_array())) return oom(r, node);
    for (size_t i = 0; i < list_length(node); i++) {
        yaml_node_t *item = node_at(r, node->data.sequence.items.start[i]);
        json_t *v = NULL;
        size_t saved = push_index(r, i);
        int rc = record(r, item, item) != 0 || to_json(r, item, &v) != 0 ? -1 : 0;
        pop(r, saved);
        if (rc != 0 || json_array_append_new(*out, v) != 0) {
            json_decref(*out);
            *out = NULL;
            return rc != 0 ? -1 : oom(r, item);
        }
    }
    return 0;
}

static int resolve(struct reader *r, yaml_node_t *node, const char *path, char **out);

// pl->plugin_json from the two sections (batching may be absent); pl->model.dir and dir_path
// when model.dir is a string (the plugin reports it missing or mistyped).
static int stage_json(struct reader *r, yaml_node_t *pipeline, struct bertd_pipeline_config *pl) {
    json_t *root = json_object(), *section = NULL;
    int rc = root ? 0 : oom(r, pipeline);
    static const char *const names[] = { "model", "batching" };
    for (size_t i = 0; i < 2 && rc == 0; i++) {
        yaml_node_t *node = find(r, pipeline, names[i]);
        if (!node) continue;
        size_t saved = push_key(r, names[i]);
        rc = to_json(r, node, &section);
        pop(r, saved);
        if (rc == 0 && json_object_set_new(root, names[i], section) != 0) rc = oom(r, node);
    }
    json_t *dir = json_object_get(json_object_get(root, "model"), "dir");
    if (rc == 0 && json_is_string(dir) && json_string_length(dir)) {
        if (!(pl->model.dir = strdup(json_string_value(dir))) ||
            resolve(r, pipeline, pl->model.dir, &pl->model.dir_path) != 0 ||
            json_object_set_new(json_object_get(root, "model"), "dir",
                                json_string(pl->model.dir_path)) != 0)
            rc = oom(r, pipeline);
    }
    if (rc == 0 && !(pl->plugin_json = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(17))))
        rc = oom(r, pipeline);
    json_decref(root);
    return rc;
}

// Relative paths in the file are relative to the file's directory, not to the working directory.
static int resolve(struct reader *r, yaml_node_t *node, const char *path, char **out) {
    size_t len = strlen(r->cfg->dir) + strlen(path) + 2;
    if (!(*out = malloc(len))) return oom(r, node);
    if (path[0] == '/')
        snprintf(*out, len, "%s", path);
    else
        snprintf(*out, len, "%s/%s", r->cfg->dir, path);
    return 0;
}

static int read_pipeline(struct reader *r, yaml_node_t *node, struct bertd_pipeline_config *pl) {
    static const char *const allowed[] = { "name", "input", "output", "dead_letter", "model", "batching", NULL };
    static const char *const required[] = { "name", "input", "output", "dead_letter", "model", NULL };
    if (check_mapping(r, node, allowed, required) != 0) return -1;
    FIELD(r, node, "name", read_string(r, VALUE, 0, &pl->name));
    FIELD(r, node, "input", read_input(r, VALUE, pl));
    FIELD(r, node, "output", read_topic_section(r, VALUE, &pl->output.topic));
    FIELD(r, node, "dead_letter", read_topic_section(r, VALUE, &pl->dead_letter.topic));
    if (stage_json(r, node, pl) != 0 || resolve(r, node, pl->input.schema, &pl->input.schema_path) != 0)
        return -1;
    return 0;
}

static int read_pipelines(struct reader *r, yaml_node_t *node) {
    if (expect_list(r, node, "pipelines") != 0) return -1;
    size_t n = list_length(node);
    if (!(r->cfg->pipelines = calloc(n, sizeof *r->cfg->pipelines))) return oom(r, node);
    r->cfg->pipeline_count = n;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = node_at(r, node->data.sequence.items.start[i]);
        size_t saved = push_index(r, i);
        int rc = record(r, item, item) != 0 || read_pipeline(r, item, &r->cfg->pipelines[i]) != 0 ? -1 : 0;
        pop(r, saved);
        if (rc != 0) return -1;
    }
    return 0;
}

// A mapping rather than a bare URL, so that credentials and timeouts can join `url` later
// without changing the meaning of files written today.
static int read_schema_registry(struct reader *r, yaml_node_t *node) {
    static const char *const keys[] = { "url", NULL };
    if (!node) return 0;
    if (check_mapping(r, node, keys, keys) != 0) return -1;
    FIELD(r, node, "url", read_string(r, VALUE, 0, &r->cfg->schema_registry.url));
    return 0;
}

// `delivery: exactly_once`, or the mapping form for the knobs.
static int read_delivery(struct reader *r, yaml_node_t *node) {
    static const char *const keys[] = { "mode", "commit_interval_ms", "transactional_id", NULL };
    int mode = BERTD_CONFIG_AT_LEAST_ONCE;
    if (!node) return 0;
    if (node->type == YAML_SCALAR_NODE) {
        if (read_enum(r, node, "delivery mode", delivery_names, COUNT(delivery_names), &mode) != 0)
            return -1;
    } else {
        if (check_mapping(r, node, keys, NULL) != 0) return -1;
        FIELD(r, node, "mode", read_enum(r, VALUE, "delivery mode", delivery_names,
                                         COUNT(delivery_names), &mode));
        FIELD(r, node, "commit_interval_ms", read_int(r, VALUE, 1, &r->cfg->delivery.commit_interval_ms));
        FIELD(r, node, "transactional_id", read_string(r, VALUE, 0, &r->cfg->delivery.transactional_id));
    }
    r->cfg->delivery.mode = (enum bertd_dconf_delivery)mode;
    return 0;
}

// `listen: HOST:PORT`: a host name or IPv4 address, or [IPv6], and a port 1..65535.
static int read_listen(struct reader *r, yaml_node_t *node, char **dst) {
    if (read_string(r, node, 0, dst) != 0) return -1;
    if (!node) return 0;
    const char *s = *dst, *colon = strrchr(s, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    int bracketed = s[0] == '[';
    if (!colon || colon == s || !end || *end || end == colon + 1 || port < 1 || port > 65535 ||
        (bracketed && colon[-1] != ']') || (!bracketed && memchr(s, ':', (size_t)(colon - s))))
        return fail_node(r, node, "expected HOST:PORT (port 1..65535, an IPv6 host in [ ]), got '%.60s'", s);
    return 0;
}

// Plain true or false.
static int read_bool(struct reader *r, yaml_node_t *node, int *dst) {
    char buf[64];
    if (!node) return 0;
    if (node->type == YAML_SCALAR_NODE && node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        if (strcmp(scalar(node), "true") == 0) return *dst = 1, 0;
        if (strcmp(scalar(node), "false") == 0) return *dst = 0, 0;
    }
    return fail_node(r, node, "expected true or false, got %s", describe(node, buf, sizeof buf));
}

// The Prometheus and health endpoints.
static int read_metrics(struct reader *r, yaml_node_t *node) {
    static const char *const keys[] = { "listen", NULL };
    if (!node) return 0;
    if (check_mapping(r, node, keys, keys) != 0) return -1;
    FIELD(r, node, "listen", read_listen(r, VALUE, &r->cfg->metrics.listen));
    return 0;
}

// A watch interval: at least 100 ms, so the watch cannot keep a core busy listing directories.
static int read_interval(struct reader *r, yaml_node_t *node, int *dst) {
    int v = *dst;
    if (read_int(r, node, 0, &v) != 0) return -1;
    if (node && v < 100) return fail_node(r, node, "must be at least 100, got %d", v);
    *dst = v;
    return 0;
}

// Hot reload: SIGHUP always; watch adds the model directories' changes.
static int read_reload(struct reader *r, yaml_node_t *node) {
    static const char *const keys[] = { "watch", "interval_ms", NULL };
    if (!node) return 0;
    if (check_mapping(r, node, keys, NULL) != 0) return -1;
    FIELD(r, node, "watch", read_bool(r, VALUE, &r->cfg->reload.watch));
    FIELD(r, node, "interval_ms", read_interval(r, VALUE, &r->cfg->reload.interval_ms));
    return 0;
}

static int read_root(struct reader *r, yaml_node_t *root) {
    static const char *const allowed[] = { "kafka", "pipelines", "schema_registry", "broker_wait_ms",
                                            "metrics", "reload", "delivery", NULL };
    static const char *const required[] = { "kafka", "pipelines", NULL };
    if (check_mapping(r, root, allowed, required) != 0) return -1;
    r->cfg->broker_wait_ms = DEFAULT_BROKER_WAIT_MS;
    FIELD(r, root, "broker_wait_ms", read_int(r, VALUE, 0, &r->cfg->broker_wait_ms));
    r->cfg->delivery.commit_interval_ms = DEFAULT_COMMIT_INTERVAL_MS;
    FIELD(r, root, "delivery", read_delivery(r, VALUE));
    FIELD(r, root, "kafka", read_kafka(r, VALUE));
    FIELD(r, root, "schema_registry", read_schema_registry(r, VALUE));
    r->cfg->reload.interval_ms = DEFAULT_RELOAD_INTERVAL_MS;
    FIELD(r, root, "metrics", read_metrics(r, VALUE));
    FIELD(r, root, "reload", read_reload(r, VALUE));
    FIELD(r, root, "pipelines", read_pipelines(r, VALUE));
    return 0;
}

// ---- public API ----------------------------------------------------------------------------

static int yaml_error(const yaml_parser_t *parser, const char *name, char *errstr, size_t errstr_size) {
    struct bertd_dconf_pos pos = { (int)parser->problem_mark.line + 1, (int)parser->problem_mark.column + 1 };
    char msg[256];
    snprintf(msg, sizeof msg, "invalid YAML: %s%s%s", parser->problem ? parser->problem : "parse error",
             parser->context ? " " : "", parser->context ? parser->context : "");
    format_error(errstr, errstr_size, name, pos, "", msg);
    return -1;
}

int bertd_dconf_parse(const char *text, size_t len, const char *name, const char *dir,
                       struct bertd_daemon_config **out, char *errstr, size_t errstr_size) {
    yaml_parser_t parser;
    yaml_document_t doc, extra;
    int rc = -1;
    *out = NULL;
    struct bertd_daemon_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg || !(cfg->path = strdup(name)) || !(cfg->dir = strdup(dir))) {
        snprintf(errstr, errstr_size, "%s: out of memory", name);
        bertd_dconf_destroy(cfg);
        return -1;
    }
    if (!yaml_parser_initialize(&parser)) {
        snprintf(errstr, errstr_size, "%s: out of memory", name);
        bertd_dconf_destroy(cfg);
        return -1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        yaml_error(&parser, name, errstr, errstr_size);
        yaml_parser_delete(&parser);
        bertd_dconf_destroy(cfg);
        return -1;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        snprintf(errstr, errstr_size, "%s:1:1: empty config: expected 'kafka' and 'pipelines'", name);
        goto done;
    }
    // A second document would be silently ignored by the daemon: refuse it instead.
    if (!yaml_parser_load(&parser, &extra)) {
        yaml_error(&parser, name, errstr, errstr_size);
        goto done;
    }
    yaml_node_t *extra_root = yaml_document_get_root_node(&extra);
    if (extra_root) {
        struct bertd_dconf_pos pos = { (int)extra.start_mark.line + 1, (int)extra.start_mark.column + 1 };
        format_error(errstr, errstr_size, name, pos, "", "only one YAML document is allowed");
        yaml_document_delete(&extra);
        goto done;
    }
    yaml_document_delete(&extra);

    struct reader r = { .doc = &doc, .cfg = cfg, .errstr = errstr, .errstr_size = errstr_size };
    if (read_root(&r, root) != 0 || bertd_dconf_validate(cfg, errstr, errstr_size) != 0) goto done;
    rc = 0;
done:
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (rc == 0)
        *out = cfg;
    else
        bertd_dconf_destroy(cfg);
    return rc;
}

int bertd_dconf_load(const char *path, struct bertd_daemon_config **out, char *errstr,
                      size_t errstr_size) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(errstr, errstr_size, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            char *grown = realloc(text, cap);
            if (!grown) {
                free(text);
                fclose(f);
                snprintf(errstr, errstr_size, "%s: out of memory", path);
                return -1;
            }
            text = grown;
        }
        size_t n = fread(text + len, 1, cap - len, f);
        len += n;
        if (n == 0) break;
    }
    int read_error = ferror(f);
    fclose(f);
    if (read_error) {
        free(text);
        snprintf(errstr, errstr_size, "%s: read error", path);
        return -1;
    }
    // The directory part of path: "a/b.yaml" -> "a", "b.yaml" -> ".", "/b.yaml" -> "/".
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int rc = bertd_dconf_parse(text, len, path, dir, out, errstr, errstr_size);
    free(text);
    return rc;
}

static void pipeline_free(struct bertd_pipeline_config *pl) {
    free(pl->name);
    for (size_t i = 0; i < pl->input.topic_count; i++) free(pl->input.topics[i]);
    free(pl->input.topics);
    free(pl->input.schema);
    free(pl->input.schema_path);
    free(pl->input.text_field);
    free(pl->input.text_pair_field);
    free(pl->output.topic);
    free(pl->dead_letter.topic);
    free(pl->model.dir);
    free(pl->model.dir_path);
    free(pl->plugin_json);
}

void bertd_dconf_destroy(struct bertd_daemon_config *cfg) {
    if (!cfg) return;
    for (size_t i = 0; i < cfg->kafka_count; i++) {
        free(cfg->kafka[i].name);
        free(cfg->kafka[i].value);
    }
    free(cfg->kafka);
    for (size_t i = 0; i < cfg->pipeline_count; i++) pipeline_free(&cfg->pipelines[i]);
    free(cfg->pipelines);
    free(cfg->schema_registry.url);
    free(cfg->delivery.transactional_id);
    free(cfg->metrics.listen);
    for (size_t i = 0; i < cfg->key_count; i++) free(cfg->keys[i].path);
    free(cfg->keys);
    free(cfg->path);
    free(cfg->dir);
    free(cfg);
}

const struct bertd_dconf_key *bertd_dconf_where(const struct bertd_daemon_config *cfg,
                                                  const char *path) {
    for (size_t i = 0; i < cfg->key_count; i++)
        if (strcmp(cfg->keys[i].path, path) == 0) return &cfg->keys[i];
    return NULL;
}

const char *bertd_dconf_kafka(const struct bertd_daemon_config *cfg, const char *name) {
    for (size_t i = 0; i < cfg->kafka_count; i++)
        if (strcmp(cfg->kafka[i].name, name) == 0) return cfg->kafka[i].value;
    return NULL;
}

const char *bertd_dconf_framing_name(enum bertd_dconf_framing framing) {
    return (size_t)framing < COUNT(framing_names) ? framing_names[framing] : "?";
}

const char *bertd_dconf_delivery_name(enum bertd_dconf_delivery mode) {
    return (size_t)mode < COUNT(delivery_names) ? delivery_names[mode] : "?";
}
