/*
 * local_yaml.c — see local_yaml.h. Built on libyaml's event parser (not its
 * document loader) because only events tell an explicit `!!str` from an
 * untagged plain scalar, which decides `"8080"` vs `8080`.
 */
#include "local_yaml.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define TAG_PREFIX "tag:yaml.org,2002:"

typedef struct wf_yaml_frame {
    json_t *value;   /* owned: the container being filled */
    char *key;       /* owned: a mapping's key waiting for its value */
    char *anchor;    /* owned: the container's anchor, registered at its end */
    size_t nodes_at; /* node count when the container started */
} wf_yaml_frame_t;

typedef struct wf_yaml_anchor {
    char *name;    /* owned */
    json_t *value; /* refcounted */
    size_t nodes;  /* nodes in the anchored subtree (an alias costs this much) */
} wf_yaml_anchor_t;

typedef struct wf_yaml_builder {
    wf_yaml_frame_t stack[WF_YAML_MAX_DEPTH];
    int depth;
    json_t *root; /* owned once complete */
    wf_yaml_anchor_t *anchors;
    size_t nanchors, capanchors;
    size_t nodes;
    char err[256];
} wf_yaml_builder_t;

static bool wf_yaml_is_tag(const char *tag, const char *name)
{
    return tag != NULL && strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) == 0 &&
           strcmp(tag + strlen(TAG_PREFIX), name) == 0;
}

static bool wf_yaml_word(const char *s, size_t len, const char *a, const char *b, const char *c)
{
    return (strlen(a) == len && memcmp(s, a, len) == 0) ||
           (strlen(b) == len && memcmp(s, b, len) == 0) ||
           (strlen(c) == len && memcmp(s, c, len) == 0);
}

/* Parses a YAML 1.2 core integer; false when `s` is not one. */
static bool wf_yaml_int(const char *s, size_t len, json_int_t *out)
{
    char buf[72];
    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    const char *p = buf;
    int base = 10;
    bool neg = false;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'o')) {
        base = p[1] == 'x' ? 16 : 8;
        p += 2;
    } else {
        if (*p == '-' || *p == '+') {
            neg = *p == '-';
            p++;
        }
    }
    if (*p == '\0')
        return false;
    for (const char *q = p; *q; q++) {
        bool ok = base == 16 ? (strchr("0123456789abcdefABCDEF", *q) != NULL)
                             : (*q >= '0' && *q < '0' + base);
        if (!ok)
            return false;
    }
    errno = 0;
    unsigned long long v = strtoull(p, NULL, base);
    if (errno == ERANGE || v > (unsigned long long)INT64_MAX + (neg ? 1u : 0u))
        return false;
    *out = neg ? (json_int_t)(0 - v) : (json_int_t)v;
    return true;
}

/* Parses a YAML 1.2 core float ("1.5", "-2e3", ".inf", ".nan"). */
static bool wf_yaml_float(const char *s, size_t len, double *out)
{
    char buf[72];
    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    const char *p = buf[0] == '-' || buf[0] == '+' ? buf + 1 : buf;
    if (wf_yaml_word(p, strlen(p), ".inf", ".Inf", ".INF")) {
        *out = buf[0] == '-' ? -INFINITY : INFINITY;
        return true;
    }
    if (p == buf && wf_yaml_word(p, strlen(p), ".nan", ".NaN", ".NAN")) {
        *out = NAN;
        return true;
    }
    /* [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
    const char *q = p;
    bool digits = false;
    while (*q >= '0' && *q <= '9') {
        q++;
        digits = true;
    }
    if (*q == '.') {
        q++;
        while (*q >= '0' && *q <= '9') {
            q++;
            digits = true;
        }
    }
    if (!digits)
        return false;
    if (*q == 'e' || *q == 'E') {
        q++;
        if (*q == '-' || *q == '+')
            q++;
        if (!(*q >= '0' && *q <= '9'))
            return false;
        while (*q >= '0' && *q <= '9')
            q++;
    }
    if (*q != '\0')
        return false;
    *out = strtod(buf, NULL);
    return true;
}

json_t *wf_yaml_scalar(const char *s, size_t len, const char *tag, int plain)
{
    json_int_t i;
    double d;
    if (tag != NULL && strcmp(tag, "!") != 0) {
        if (wf_yaml_is_tag(tag, "null"))
            return json_null();
        if (wf_yaml_is_tag(tag, "bool"))
            return json_boolean(wf_yaml_word(s, len, "true", "True", "TRUE"));
        if (wf_yaml_is_tag(tag, "int") && wf_yaml_int(s, len, &i))
            return json_integer(i);
        if (wf_yaml_is_tag(tag, "float") && wf_yaml_float(s, len, &d))
            return json_real(d);
        return json_stringn(s, len); /* !!str and unknown tags: the text */
    }
    if (!plain || (tag != NULL && strcmp(tag, "!") == 0))
        return json_stringn(s, len);
    if (len == 0 || wf_yaml_word(s, len, "~", "null", "Null") ||
        wf_yaml_word(s, len, "NULL", "~", "~"))
        return json_null();
    if (wf_yaml_word(s, len, "true", "True", "TRUE"))
        return json_true();
    if (wf_yaml_word(s, len, "false", "False", "FALSE"))
        return json_false();
    if (wf_yaml_int(s, len, &i))
        return json_integer(i);
    if (wf_yaml_float(s, len, &d) && isfinite(d))
        return json_real(d);
    /* jansson cannot hold inf/nan: they stay text, as JSON has no spelling. */
    return json_stringn(s, len);
}

static void wf_yaml_builder_free(wf_yaml_builder_t *b)
{
    for (int i = 0; i < b->depth; i++) {
        json_decref(b->stack[i].value);
        free(b->stack[i].key);
        free(b->stack[i].anchor);
    }
    b->depth = 0;
    for (size_t i = 0; i < b->nanchors; i++) {
        free(b->anchors[i].name);
        json_decref(b->anchors[i].value);
    }
    free(b->anchors);
    b->anchors = NULL;
    b->nanchors = b->capanchors = 0;
    json_decref(b->root);
    b->root = NULL;
}

static int wf_yaml_anchor_add(wf_yaml_builder_t *b, const char *name, json_t *v, size_t nodes)
{
    if (b->nanchors == b->capanchors) {
        size_t cap = b->capanchors ? b->capanchors * 2 : 8;
        wf_yaml_anchor_t *a = realloc(b->anchors, cap * sizeof(*a));
        if (a == NULL)
            return -1;
        b->anchors = a;
        b->capanchors = cap;
    }
    char *n = strdup(name);
    if (n == NULL)
        return -1;
    /* A later anchor of the same name shadows the earlier one (YAML 1.2). */
    b->anchors[b->nanchors++] = (wf_yaml_anchor_t){n, json_incref(v), nodes};
    return 0;
}

/* Adds a finished value to the current container (or makes it the root).
 * Takes the reference to v. Returns 0 or -1 with b->err set. */
static int wf_yaml_put(wf_yaml_builder_t *b, json_t *v, const yaml_mark_t *m)
{
    if (v == NULL) {
        snprintf(b->err, sizeof(b->err), "out of memory");
        return -1;
    }
    if (b->depth == 0) {
        json_decref(b->root);
        b->root = v;
        return 0;
    }
    wf_yaml_frame_t *f = &b->stack[b->depth - 1];
    if (json_is_array(f->value))
        return json_array_append_new(f->value, v) == 0 ? 0 : -1;
    if (f->key == NULL) {
        /* A mapping key that is not a scalar. */
        json_decref(v);
        snprintf(b->err, sizeof(b->err), "line %zu column %zu: mapping keys must be scalars",
                 m->line + 1, m->column + 1);
        return -1;
    }
    if (json_object_get(f->value, f->key) != NULL) {
        snprintf(b->err, sizeof(b->err), "line %zu column %zu: duplicate key \"%.80s\"",
                 m->line + 1, m->column + 1, f->key);
        json_decref(v);
        return -1;
    }
    int rc = json_object_set_new(f->value, f->key, v);
    free(f->key);
    f->key = NULL;
    return rc == 0 ? 0 : -1;
}

static int wf_yaml_count(wf_yaml_builder_t *b, size_t n, const yaml_mark_t *m)
{
    b->nodes += n;
    if (b->nodes > WF_YAML_MAX_NODES) {
        snprintf(b->err, sizeof(b->err),
                 "line %zu column %zu: document too large (more than %d nodes, aliases counted)",
                 m->line + 1, m->column + 1, WF_YAML_MAX_NODES);
        return -1;
    }
    return 0;
}

static bool wf_yaml_wants_key(const wf_yaml_builder_t *b)
{
    return b->depth > 0 && json_is_object(b->stack[b->depth - 1].value) &&
           b->stack[b->depth - 1].key == NULL;
}

/* Handles one event. Returns 1 at document end, 0 to go on, -1 on error. */
static int wf_yaml_event(wf_yaml_builder_t *b, yaml_event_t *e)
{
    const yaml_mark_t *m = &e->start_mark;
    switch (e->type) {
    case YAML_SCALAR_EVENT: {
        const char *val = (const char *)e->data.scalar.value;
        size_t len = e->data.scalar.length;
        if (wf_yaml_count(b, 1, m) < 0)
            return -1;
        if (wf_yaml_wants_key(b)) {
            if (memchr(val, '\0', len) != NULL) {
                snprintf(b->err, sizeof(b->err), "line %zu column %zu: NUL byte in a key",
                         m->line + 1, m->column + 1);
                return -1;
            }
            b->stack[b->depth - 1].key = strndup(val, len);
            return b->stack[b->depth - 1].key ? 0 : -1;
        }
        json_t *v = wf_yaml_scalar(val, len, (const char *)e->data.scalar.tag,
                                   e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE);
        if (v != NULL && e->data.scalar.anchor != NULL &&
            wf_yaml_anchor_add(b, (const char *)e->data.scalar.anchor, v, 1) < 0) {
            json_decref(v);
            return -1;
        }
        return wf_yaml_put(b, v, m);
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        if (wf_yaml_wants_key(b)) {
            snprintf(b->err, sizeof(b->err), "line %zu column %zu: mapping keys must be scalars",
                     m->line + 1, m->column + 1);
            return -1;
        }
        if (b->depth == WF_YAML_MAX_DEPTH) {
            snprintf(b->err, sizeof(b->err), "line %zu column %zu: nested deeper than %d levels",
                     m->line + 1, m->column + 1, WF_YAML_MAX_DEPTH);
            return -1;
        }
        if (wf_yaml_count(b, 1, m) < 0)
            return -1;
        bool seq = e->type == YAML_SEQUENCE_START_EVENT;
        const yaml_char_t *anchor =
            seq ? e->data.sequence_start.anchor : e->data.mapping_start.anchor;
        json_t *v = seq ? json_array() : json_object();
        if (v == NULL)
            return -1;
        b->stack[b->depth++] =
            (wf_yaml_frame_t){v, NULL, anchor ? strdup((const char *)anchor) : NULL, b->nodes - 1};
        return 0;
    }
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT: {
        wf_yaml_frame_t f = b->stack[--b->depth];
        free(f.key); /* a key without a value cannot happen; libyaml pairs them */
        int rc = 0;
        if (f.anchor != NULL)
            rc = wf_yaml_anchor_add(b, f.anchor, f.value, b->nodes - f.nodes_at);
        free(f.anchor);
        if (rc < 0) {
            json_decref(f.value);
            return -1;
        }
        return wf_yaml_put(b, f.value, m);
    }
    case YAML_ALIAS_EVENT: {
        const char *name = (const char *)e->data.alias.anchor;
        for (size_t i = b->nanchors; i-- > 0;) {
            if (strcmp(b->anchors[i].name, name) != 0)
                continue;
            if (wf_yaml_count(b, b->anchors[i].nodes, m) < 0)
                return -1;
            json_t *v = b->anchors[i].value;
            if (wf_yaml_wants_key(b)) {
                if (!json_is_string(v)) {
                    snprintf(b->err, sizeof(b->err),
                             "line %zu column %zu: alias *%.40s used as a key is not a string",
                             m->line + 1, m->column + 1, name);
                    return -1;
                }
                b->stack[b->depth - 1].key = strdup(json_string_value(v));
                return b->stack[b->depth - 1].key ? 0 : -1;
            }
            /* A deep copy: the documents are edited later, and a shared
             * subtree would see every edit twice. */
            return wf_yaml_put(b, json_deep_copy(v), m);
        }
        snprintf(b->err, sizeof(b->err), "line %zu column %zu: unknown alias *%.40s", m->line + 1,
                 m->column + 1, name);
        return -1;
    }
    case YAML_DOCUMENT_END_EVENT:
        return 1;
    default:
        return 0;
    }
}

/*
 * Parses one chunk that holds at most one document. Returns 1 with *out
 * set, 0 for an empty chunk, -1 with err set. `line0` is the chunk's first
 * line in the whole buffer (0-based), for messages.
 */
static int wf_yaml_parse_one(const char *buf, size_t len, size_t line0, json_t **out, char *err,
                             size_t errlen)
{
    yaml_parser_t p;
    wf_yaml_builder_t *b = calloc(1, sizeof(*b));
    *out = NULL;
    if (b == NULL || !yaml_parser_initialize(&p)) {
        free(b);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
    int result = 0;
    bool in_doc = false, done = false;
    while (!done) {
        yaml_event_t e;
        if (!yaml_parser_parse(&p, &e)) {
            snprintf(err, errlen, "line %zu column %zu: %s%s%s", p.problem_mark.line + 1 + line0,
                     p.problem_mark.column + 1, p.problem ? p.problem : "syntax error",
                     p.context ? " " : "", p.context ? p.context : "");
            result = -1;
            break;
        }
        if (e.type == YAML_STREAM_END_EVENT) {
            done = true;
        } else if (e.type == YAML_DOCUMENT_START_EVENT) {
            if (in_doc || b->root != NULL) {
                snprintf(err, errlen, "line %zu: more than one document in a section",
                         e.start_mark.line + 1 + line0);
                result = -1;
                done = true;
            }
            in_doc = true;
        } else {
            int rc = wf_yaml_event(b, &e);
            if (rc < 0) {
                /* Messages carry chunk-relative lines; rewrite with line0. */
                size_t l, c;
                char rest[200];
                if (sscanf(b->err, "line %zu column %zu: %199[^\n]", &l, &c, rest) == 3)
                    snprintf(err, errlen, "line %zu column %zu: %s", l + line0, c, rest);
                else
                    snprintf(err, errlen, "%s", b->err[0] ? b->err : "out of memory");
                result = -1;
                done = true;
            } else if (rc == 1) {
                in_doc = false;
            }
        }
        yaml_event_delete(&e);
    }
    if (result == 0 && b->root != NULL) {
        *out = b->root;
        b->root = NULL;
        result = 1;
    } else if (result == 0 && in_doc) {
        result = 0;
    }
    wf_yaml_builder_free(b);
    free(b);
    yaml_parser_delete(&p);
    return result;
}

/* True if the line at p (length n) is a document marker "---"/"..." followed
 * by a blank or the end of the line. */
static bool wf_yaml_marker(const char *p, size_t n)
{
    if (n < 3 || !(memcmp(p, "---", 3) == 0 || memcmp(p, "...", 3) == 0))
        return false;
    return n == 3 || p[3] == ' ' || p[3] == '\t' || p[3] == '\r' || p[3] == '\n';
}

/* True if the chunk has something besides blanks, comments and directives. */
static bool wf_yaml_has_content(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t e = i;
        while (e < n && p[e] != '\n')
            e++;
        size_t j = i;
        while (j < e && (p[j] == ' ' || p[j] == '\t' || p[j] == '\r'))
            j++;
        if (j < e && p[j] != '#' && !(j == i && p[j] == '%'))
            return true;
        i = e + 1;
    }
    return false;
}

int wf_yaml_parse_docs(const char *buf, size_t len, wf_yaml_doc_cb cb, void *ctx)
{
    int index = 0;
    size_t start = 0, line = 0, start_line = 0;
    size_t i = 0;
    char err[320];
    for (;;) {
        bool at_end = i >= len;
        size_t e = i;
        while (e < len && buf[e] != '\n')
            e++;
        bool marker = !at_end && wf_yaml_marker(buf + i, e - i);
        if (at_end || marker) {
            /* The section [start, i) ends here. A "---" line may carry
             * content after the marker ("--- {a: 1}"), so the marker line
             * starts the next section; only what follows it counts as content. */
            size_t skip = start < i && wf_yaml_marker(buf + start, i - start) ? 3 : 0;
            if (wf_yaml_has_content(buf + start + skip, i - start - skip)) {
                json_t *doc = NULL;
                int rc =
                    wf_yaml_parse_one(buf + start, i - start, start_line, &doc, err, sizeof(err));
                if (rc != 0) {
                    index++;
                    cb(ctx, index, rc > 0 ? doc : NULL, rc > 0 ? NULL : err);
                }
            }
            if (at_end)
                break;
            bool ends = buf[i] == '.';
            start = ends ? (e < len ? e + 1 : len) : i;
            start_line = ends ? line + 1 : line;
        }
        i = e < len ? e + 1 : len;
        line++;
    }
    return index;
}
