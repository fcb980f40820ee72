// ${NAME} expansion in config values, so one file serves several machines: the broker address
// or model directory can come from the environment (`dir: ${BERTD_MODEL_DIR:-/models/minilm}`).
// ${file:PATH} is the content of a file (a mounted secret: `sasl.password: ${file:/run/pw}`), so
// that secrets need not be written in the config file. Keys are never expanded. $$ stands for a
// literal $; any other $ is kept as it is. Error messages name the variable or the file, never a
// value, since values may be secrets.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"

struct buffer {
    char *data;
    size_t len, cap;
};

static int buffer_add(struct buffer *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1) cap *= 2;
        char *data = realloc(b->data, cap);
        if (!data) return -1;
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

static int is_name_char(char c, int first) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
           (!first && c >= '0' && c <= '9');
}

// Appends the content of file path (relative: to dir) without its trailing newlines.
static int add_file(struct buffer *b, const char *path, size_t path_len, const char *dir,
                    char *why, size_t why_size) {
    char full[4096];
    if (path_len == 0) {
        snprintf(why, why_size, "${file:} names no file");
        return -1;
    }
    if (path[0] == '/' || !dir)
        snprintf(full, sizeof full, "%.*s", (int)path_len, path);
    else
        snprintf(full, sizeof full, "%s/%.*s", dir, (int)path_len, path);
    FILE *f = fopen(full, "rb");
    if (!f) {
        snprintf(why, why_size, "${file:%.*s}: %s", (int)path_len, path, strerror(errno));
        return -1;
    }
    size_t start = b->len;
    char chunk[4096];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (buffer_add(b, chunk, n) != 0) {
            snprintf(why, why_size, "out of memory");
            rc = -1;
            break;
        }
    if (!rc && ferror(f)) {
        snprintf(why, why_size, "${file:%.*s}: read error", (int)path_len, path);
        rc = -1;
    }
    fclose(f);
    while (!rc && b->len > start && (b->data[b->len - 1] == '\n' || b->data[b->len - 1] == '\r'))
        b->data[--b->len] = '\0';
    if (!rc && b->len == start) {
        snprintf(why, why_size, "${file:%.*s}: the file is empty", (int)path_len, path);
        rc = -1;
    }
    return rc;
}

int bertd_dconf_expand(const char *in, const char *dir, char **out, char *why, size_t why_size) {
    struct buffer b = { NULL, 0, 0 };
    const char *p = in;
    if (buffer_add(&b, "", 0) != 0) goto oom;
    while (*p) {
        const char *dollar = strchr(p, '$');
        if (!dollar) {
            if (buffer_add(&b, p, strlen(p)) != 0) goto oom;
            break;
        }
        if (buffer_add(&b, p, (size_t)(dollar - p)) != 0) goto oom;
        if (dollar[1] == '$') {
            if (buffer_add(&b, "$", 1) != 0) goto oom;
            p = dollar + 2;
            continue;
        }
        if (dollar[1] != '{') {
            if (buffer_add(&b, "$", 1) != 0) goto oom;
            p = dollar + 1;
            continue;
        }
        if (!strncmp(dollar + 2, "file:", 5)) {
            const char *path = dollar + 7, *close = strchr(path, '}');
            if (!close) {
                snprintf(why, why_size, "bad ${file:...} in a value: no closing }");
                free(b.data);
                return -1;
            }
            if (add_file(&b, path, (size_t)(close - path), dir, why, why_size) != 0) {
                free(b.data);
                return -1;
            }
            p = close + 1;
            continue;
        }
        const char *name = dollar + 2, *end = name;
        while (is_name_char(*end, end == name)) end++;
        size_t name_len = (size_t)(end - name);
        const char *fallback = NULL, *close = NULL;
        if (name_len > 0 && end[0] == '}') {
            close = end;
        } else if (name_len > 0 && end[0] == ':' && end[1] == '-') {
            fallback = end + 2;
            close = strchr(fallback, '}');
        }
        if (!close) {
            snprintf(why, why_size, "bad ${...} in '%s': expected ${NAME} or ${NAME:-default}", in);
            free(b.data);
            return -1;
        }
        char var[256];
        if (name_len >= sizeof var) {
            snprintf(why, why_size, "environment variable name too long in '%s'", in);
            free(b.data);
            return -1;
        }
        memcpy(var, name, name_len);
        var[name_len] = '\0';
        const char *value = getenv(var);
        if (value && value[0]) {
            if (buffer_add(&b, value, strlen(value)) != 0) goto oom;
        } else if (fallback) {
            if (buffer_add(&b, fallback, (size_t)(close - fallback)) != 0) goto oom;
        } else {
            snprintf(why, why_size, "environment variable %s is not set", var);
            free(b.data);
            return -1;
        }
        p = close + 1;
    }
    *out = b.data;
    return 0;
oom:
    snprintf(why, why_size, "out of memory");
    free(b.data);
    return -1;
}
