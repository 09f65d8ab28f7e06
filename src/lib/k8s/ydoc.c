/*
 * ydoc.c — YAML node trees: libyaml events in, a tree, libyaml events out
 * (see ydoc.h).
 */
#include "k8s/ydoc.h"

#include "core/hmap.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <yaml.h>

#define YDOC_MAX_DEPTH 64
#define YDOC_MAX_INPUT (4u * 1024 * 1024)
#define YDOC_MAX_DOCS 1000

static char *dup_or_null(const unsigned char *s)
{
    return s != NULL ? strdup((const char *)s) : NULL;
}

static wf_ynode_t *node_new(wf_ynode_type_t type)
{
    wf_ynode_t *n = calloc(1, sizeof(*n));
    if (n != NULL)
        n->type = type;
    return n;
}

void wf_ynode_free(wf_ynode_t *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->n; i++)
        wf_ynode_free(n->items[i]);
    free(n->items);
    free(n->tag);
    free(n->anchor);
    free(n->str);
    free(n);
}

static bool push(wf_ynode_t *parent, wf_ynode_t *child)
{
    if (parent->n == parent->cap) {
        size_t cap = parent->cap ? parent->cap * 2 : 8;
        wf_ynode_t **items = realloc(parent->items, cap * sizeof(*items));
        if (items == NULL)
            return false;
        parent->items = items;
        parent->cap = cap;
    }
    parent->items[parent->n++] = child;
    return true;
}

static bool insert_at(wf_ynode_t *parent, size_t at, wf_ynode_t *child)
{
    if (!push(parent, child))
        return false;
    memmove(&parent->items[at + 1], &parent->items[at],
            (parent->n - 1 - at) * sizeof(parent->items[0]));
    parent->items[at] = child;
    return true;
}

static wf_ynode_t *scalar_new(const char *s, size_t len)
{
    wf_ynode_t *n = node_new(WF_YNODE_SCALAR);
    if (n == NULL)
        return NULL;
    n->str = malloc(len + 1);
    if (n->str == NULL) {
        free(n);
        return NULL;
    }
    memcpy(n->str, s, len);
    n->str[len] = '\0';
    n->len = len;
    n->plain_implicit = n->quoted_implicit = true;
    return n;
}

/* A mapping's scalar keys must be unique. Returns the duplicate or NULL. */
static const wf_ynode_t *duplicate_key(const wf_ynode_t *map, bool *oom)
{
    wf_hmap_t seen = WF_HMAP_INIT;
    const wf_ynode_t *dup = NULL;
    for (size_t i = 0; i + 1 < map->n && dup == NULL; i += 2) {
        const wf_ynode_t *k = map->items[i];
        if (k->type != WF_YNODE_SCALAR)
            continue;
        wf_str_t key = {k->str, k->len};
        if (wf_hmap_get(&seen, key) != NULL)
            dup = k;
        else if (wf_hmap_put(&seen, key, (void *)k, NULL) != 0)
            *oom = true;
    }
    wf_hmap_clear(&seen);
    return dup;
}

void wf_ydocs_free(wf_ydocs_t *d)
{
    for (size_t i = 0; i < d->n; i++)
        wf_ynode_free(d->docs[i]);
    free(d->docs);
    memset(d, 0, sizeof(*d));
}

int wf_ydoc_parse(const char *data, size_t len, wf_ydocs_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (len > YDOC_MAX_INPUT) {
        snprintf(err, errlen, "YAML input larger than 4 MiB");
        return WF_ELIMIT;
    }
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        snprintf(err, errlen, "out of memory");
        return WF_ENOMEM;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
    wf_ynode_t *st[YDOC_MAX_DEPTH];
    int depth = 0, rc = 0;
    wf_ynode_t *root = NULL;
    bool done = false, first_doc = true;
    while (!done && rc == 0) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            snprintf(err, errlen, "YAML error at line %zu: %s", p.problem_mark.line + 1,
                     p.problem != NULL ? p.problem : "malformed");
            rc = WF_EINVAL;
            break;
        }
        wf_ynode_t *node = NULL;
        size_t line = ev.start_mark.line + 1;
        switch (ev.type) {
        case YAML_DOCUMENT_START_EVENT:
            if (first_doc)
                out->explicit_start = !ev.data.document_start.implicit;
            first_doc = false;
            break;
        case YAML_SCALAR_EVENT:
            node = scalar_new((const char *)ev.data.scalar.value, ev.data.scalar.length);
            if (node != NULL) {
                node->style = ev.data.scalar.style;
                /* The non-specific tag "!" is dropped: libyaml's emitter
                 * omits it on plain scalars anyway, so keeping it would make
                 * a value read differently after a round trip. */
                if (ev.data.scalar.tag != NULL && strcmp((char *)ev.data.scalar.tag, "!") != 0)
                    node->tag = dup_or_null(ev.data.scalar.tag);
                node->anchor = dup_or_null(ev.data.scalar.anchor);
                node->plain_implicit = ev.data.scalar.plain_implicit;
                node->quoted_implicit = ev.data.scalar.quoted_implicit;
            }
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (depth == YDOC_MAX_DEPTH) {
                snprintf(err, errlen, "YAML nested deeper than %d levels (line %zu)",
                         YDOC_MAX_DEPTH, line);
                rc = WF_EINVAL;
                break;
            }
            if (ev.type == YAML_SEQUENCE_START_EVENT) {
                node = node_new(WF_YNODE_SEQ);
                if (node != NULL) {
                    node->style = ev.data.sequence_start.style;
                    node->tag = dup_or_null(ev.data.sequence_start.tag);
                    node->anchor = dup_or_null(ev.data.sequence_start.anchor);
                    node->plain_implicit = ev.data.sequence_start.implicit;
                }
            } else {
                node = node_new(WF_YNODE_MAP);
                if (node != NULL) {
                    node->style = ev.data.mapping_start.style;
                    node->tag = dup_or_null(ev.data.mapping_start.tag);
                    node->anchor = dup_or_null(ev.data.mapping_start.anchor);
                    node->plain_implicit = ev.data.mapping_start.implicit;
                }
            }
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (ev.type == YAML_MAPPING_END_EVENT) {
                bool oom = false;
                const wf_ynode_t *dup = duplicate_key(st[depth - 1], &oom);
                if (dup != NULL || oom) {
                    if (oom)
                        snprintf(err, errlen, "out of memory");
                    else
                        snprintf(err, errlen, "YAML line %zu: duplicate key \"%.100s\"",
                                 dup->line, dup->str);
                    rc = oom ? WF_ENOMEM : WF_EINVAL;
                    break;
                }
            }
            depth--;
            if (depth == 0) {
                if (out->n == YDOC_MAX_DOCS) {
                    snprintf(err, errlen, "more than %d YAML documents", YDOC_MAX_DOCS);
                    rc = WF_ELIMIT;
                    wf_ynode_free(root);
                } else if (out->n == out->cap) {
                    size_t cap = out->cap ? out->cap * 2 : 8;
                    wf_ynode_t **docs = realloc(out->docs, cap * sizeof(*docs));
                    if (docs == NULL) {
                        rc = WF_ENOMEM;
                        wf_ynode_free(root);
                    } else {
                        out->docs = docs;
                        out->cap = cap;
                    }
                }
                if (rc == 0)
                    out->docs[out->n++] = root;
                root = NULL;
            }
            break;
        case YAML_ALIAS_EVENT:
            snprintf(err, errlen, "YAML aliases (*%s) are not supported (line %zu)",
                     (const char *)ev.data.alias.anchor, line);
            rc = WF_EINVAL;
            break;
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        default:
            break;
        }
        if (node != NULL)
            node->line = line;
        bool is_start = ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT;
        if (rc == 0 && (ev.type == YAML_SCALAR_EVENT || is_start)) {
            if (node == NULL) {
                snprintf(err, errlen, "out of memory");
                rc = WF_ENOMEM;
            } else if (depth == 0) {
                if (!is_start && node->style == YAML_PLAIN_SCALAR_STYLE &&
                    (node->len == 0 || strcmp(node->str, "null") == 0 ||
                     strcmp(node->str, "~") == 0)) {
                    wf_ynode_free(node); /* an empty document ("---" at the end): dropped */
                } else if (!is_start) {
                    /* A document that is a bare scalar: not a manifest. */
                    snprintf(err, errlen, "line %zu: a YAML document is a scalar, not an object",
                             line);
                    wf_ynode_free(node);
                    rc = WF_EINVAL;
                } else {
                    root = node;
                }
            } else if (!push(st[depth - 1], node)) {
                wf_ynode_free(node);
                snprintf(err, errlen, "out of memory");
                rc = WF_ENOMEM;
            }
            if (rc == 0 && is_start)
                st[depth++] = node;
        } else if (node != NULL) {
            wf_ynode_free(node);
        }
        yaml_event_delete(&ev);
    }
    if (depth > 0)
        wf_ynode_free(root);
    yaml_parser_delete(&p);
    if (rc != 0)
        wf_ydocs_free(out);
    return rc;
}

/* --- emit ------------------------------------------------------------------------- */

static int write_cb(void *data, unsigned char *buf, size_t size)
{
    wf_sbuf_append(data, (const char *)buf, size);
    return 1;
}

/* in_flow: inside a flow collection, where libyaml cannot write an empty
 * plain scalar (a key without a value: "{a}") and would write ! '' — a
 * string — instead; "~" keeps such a value null. Keys stay as they are
 * (the JSON view reads any key as a string). */
static bool emit_node(yaml_emitter_t *e, const wf_ynode_t *n, bool in_flow, bool is_key)
{
    yaml_event_t ev;
    const unsigned char *tag = (const unsigned char *)n->tag;
    const unsigned char *anchor = (const unsigned char *)n->anchor;
    switch (n->type) {
    case WF_YNODE_SCALAR: {
        bool empty_null =
            in_flow && !is_key && n->len == 0 && n->tag == NULL &&
            (n->style == YAML_PLAIN_SCALAR_STYLE || n->style == YAML_ANY_SCALAR_STYLE);
        if (!yaml_scalar_event_initialize(
                &ev, (yaml_char_t *)anchor, (yaml_char_t *)tag,
                (yaml_char_t *)(empty_null ? "~" : n->str), empty_null ? 1 : (int)n->len,
                n->plain_implicit || empty_null, n->quoted_implicit, (yaml_scalar_style_t)n->style))
            return false;
        return yaml_emitter_emit(e, &ev) != 0;
    }
    case WF_YNODE_SEQ:
        if (!yaml_sequence_start_event_initialize(&ev, (yaml_char_t *)anchor, (yaml_char_t *)tag,
                                                  tag == NULL || n->plain_implicit,
                                                  (yaml_sequence_style_t)n->style) ||
            !yaml_emitter_emit(e, &ev))
            return false;
        for (size_t i = 0; i < n->n; i++)
            if (!emit_node(e, n->items[i], in_flow || n->style == YAML_FLOW_SEQUENCE_STYLE, false))
                return false;
        return yaml_sequence_end_event_initialize(&ev) && yaml_emitter_emit(e, &ev);
    case WF_YNODE_MAP:
        if (!yaml_mapping_start_event_initialize(&ev, (yaml_char_t *)anchor, (yaml_char_t *)tag,
                                                 tag == NULL || n->plain_implicit,
                                                 (yaml_mapping_style_t)n->style) ||
            !yaml_emitter_emit(e, &ev))
            return false;
        for (size_t i = 0; i < n->n; i++)
            if (!emit_node(e, n->items[i], in_flow || n->style == YAML_FLOW_MAPPING_STYLE,
                           i % 2 == 0))
                return false;
        return yaml_mapping_end_event_initialize(&ev) && yaml_emitter_emit(e, &ev);
    }
    return false;
}

int wf_ydoc_emit(const wf_ydocs_t *d, wf_sbuf_t *out, char *err, size_t errlen)
{
    yaml_emitter_t e;
    yaml_event_t ev;
    if (!yaml_emitter_initialize(&e)) {
        snprintf(err, errlen, "out of memory");
        return WF_ENOMEM;
    }
    yaml_emitter_set_output(&e, write_cb, out);
    yaml_emitter_set_unicode(&e, 1);
    yaml_emitter_set_width(&e, -1); /* never fold long values (PEM, JSON in env) */
    bool ok =
        yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) && yaml_emitter_emit(&e, &ev);
    for (size_t i = 0; ok && i < d->n; i++) {
        int implicit = i == 0 && !d->explicit_start;
        ok = yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, implicit) &&
             yaml_emitter_emit(&e, &ev) && emit_node(&e, d->docs[i], false, false) &&
             yaml_document_end_event_initialize(&ev, 1) && yaml_emitter_emit(&e, &ev);
    }
    ok = ok && yaml_stream_end_event_initialize(&ev) && yaml_emitter_emit(&e, &ev) &&
         yaml_emitter_flush(&e);
    if (!ok)
        snprintf(err, errlen, "YAML emitter: %s", e.problem != NULL ? e.problem : "failed");
    yaml_emitter_delete(&e);
    return ok ? 0 : WF_EINVAL;
}

bool wf_ydoc_has_comments(const char *data, size_t len)
{
    bool sq = false, dq = false;
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        if (c == '\n') {
            sq = dq = false; /* quotes rarely span lines in manifests: a heuristic */
        } else if (c == '\'' && !dq) {
            sq = !sq;
        } else if (c == '"' && !sq && (i == 0 || data[i - 1] != '\\')) {
            dq = !dq;
        } else if (c == '#' && !sq && !dq &&
                   (i == 0 || data[i - 1] == ' ' || data[i - 1] == '\t' || data[i - 1] == '\n')) {
            return true;
        }
    }
    return false;
}

/* --- JSON view ---------------------------------------------------------------------- */

wf_ynode_t *wf_ynode_get(const wf_ynode_t *map, const char *key)
{
    if (map == NULL || map->type != WF_YNODE_MAP)
        return NULL;
    for (size_t i = 0; i + 1 < map->n; i += 2) {
        const wf_ynode_t *k = map->items[i];
        if (k->type == WF_YNODE_SCALAR && strcmp(k->str, key) == 0)
            return map->items[i + 1];
    }
    return NULL;
}

/* YAML 1.1/1.2 plain scalar resolution for the types JSON has. Returns a
 * new JSON value, or NULL when the scalar is a string. */
static json_t *resolve_plain(const char *s, size_t len)
{
    if (len == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
        strcmp(s, "NULL") == 0)
        return json_null();
    if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0)
        return json_true();
    if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0)
        return json_false();
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    bool digits = *p != '\0';
    for (const char *q = p; *q; q++)
        digits = digits && *q >= '0' && *q <= '9';
    if (digits && strlen(p) <= 18) {
        errno = 0;
        long long v = strtoll(s, NULL, 10);
        if (errno == 0)
            return json_integer(v);
    }
    /* Floats: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
    const char *q = p;
    bool mant = false;
    while (*q >= '0' && *q <= '9') {
        q++;
        mant = true;
    }
    if (*q == '.') {
        q++;
        while (*q >= '0' && *q <= '9') {
            q++;
            mant = true;
        }
    }
    if (mant && (*q == 'e' || *q == 'E')) {
        q++;
        if (*q == '-' || *q == '+')
            q++;
        bool exp = false;
        while (*q >= '0' && *q <= '9') {
            q++;
            exp = true;
        }
        if (!exp)
            mant = false;
    }
    if (mant && *q == '\0' && strchr(p, '.') != NULL) {
        double d = strtod(s, NULL);
        if (isfinite(d))
            return json_real(d);
    }
    return NULL;
}

json_t *wf_ynode_to_json(const wf_ynode_t *n)
{
    switch (n->type) {
    case WF_YNODE_SCALAR: {
        bool is_str_tag = n->tag != NULL && strcmp(n->tag, YAML_STR_TAG) == 0;
        bool plain = n->style == YAML_PLAIN_SCALAR_STYLE || n->style == YAML_ANY_SCALAR_STYLE;
        if (plain && !is_str_tag) {
            json_t *v = resolve_plain(n->str, n->len);
            if (v != NULL)
                return v;
        }
        return json_stringn(n->str, n->len);
    }
    case WF_YNODE_SEQ: {
        json_t *a = json_array();
        for (size_t i = 0; a != NULL && i < n->n; i++)
            if (json_array_append_new(a, wf_ynode_to_json(n->items[i])) != 0) {
                json_decref(a);
                return NULL;
            }
        return a;
    }
    case WF_YNODE_MAP: {
        json_t *o = json_object();
        for (size_t i = 0; o != NULL && i + 1 < n->n; i += 2) {
            const wf_ynode_t *k = n->items[i];
            if (k->type != WF_YNODE_SCALAR)
                continue; /* complex keys have no JSON form */
            json_t *v = wf_ynode_to_json(n->items[i + 1]);
            if (v == NULL || json_object_setn_new(o, k->str, k->len, v) != 0) {
                json_decref(o);
                return NULL;
            }
        }
        return o;
    }
    }
    return NULL;
}

/* A scalar for a JSON string: quoted when it would read back as something
 * else ("8080", "true"), literal when multi-line; always double-quoted in
 * JSON style (json: the node goes into a flow collection, which may be a
 * JSON document that must stay JSON). */
static wf_ynode_t *scalar_styled(const char *s, size_t len, bool json)
{
    wf_ynode_t *n = scalar_new(s, len);
    if (n == NULL)
        return NULL;
    n->style = YAML_ANY_SCALAR_STYLE;
    json_t *r = resolve_plain(n->str, len);
    if (r != NULL || json) {
        json_decref(r);
        n->style = YAML_DOUBLE_QUOTED_SCALAR_STYLE; /* "8080", "true" stay strings */
    } else if (memchr(s, '\n', len) != NULL) {
        n->style = YAML_LITERAL_SCALAR_STYLE;
    }
    return n;
}

static wf_ynode_t *from_json(const json_t *j, bool json)
{
    char num[64];
    switch (json_typeof(j)) {
    case JSON_STRING:
        return scalar_styled(json_string_value(j), json_string_length(j), json);
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(j));
        return scalar_new(num, strlen(num));
    case JSON_REAL:
        snprintf(num, sizeof(num), "%.17g", json_real_value(j));
        return scalar_new(num, strlen(num));
    case JSON_TRUE:
        return scalar_new("true", 4);
    case JSON_FALSE:
        return scalar_new("false", 5);
    case JSON_NULL:
        return scalar_new("null", 4);
    case JSON_ARRAY: {
        wf_ynode_t *n = node_new(WF_YNODE_SEQ);
        if (n != NULL && json)
            n->style = YAML_FLOW_SEQUENCE_STYLE;
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
        {
            wf_ynode_t *c = n != NULL ? from_json(v, json) : NULL;
            if (c == NULL || !push(n, c)) {
                wf_ynode_free(c);
                wf_ynode_free(n);
                return NULL;
            }
        }
        return n;
    }
    case JSON_OBJECT: {
        wf_ynode_t *n = node_new(WF_YNODE_MAP);
        if (n != NULL && json)
            n->style = YAML_FLOW_MAPPING_STYLE;
        const char *k;
        json_t *v;
        /* jansson keeps insertion order: the order the injector built. */
        json_object_foreach((json_t *)j, k, v)
        {
            wf_ynode_t *kn = n != NULL ? scalar_styled(k, strlen(k), json) : NULL;
            wf_ynode_t *vn = kn != NULL ? from_json(v, json) : NULL;
            if (vn == NULL || !push(n, kn) || !push(n, vn)) {
                if (n != NULL && n->n > 0 && n->items[n->n - 1] == kn)
                    n->n--;
                wf_ynode_free(kn);
                wf_ynode_free(vn);
                wf_ynode_free(n);
                return NULL;
            }
        }
        return n;
    }
    }
    return NULL;
}

wf_ynode_t *wf_ynode_from_json(const json_t *j)
{
    return from_json(j, false);
}

/* Is this collection written in flow style ({...} / [...])? */
static bool is_flow(const wf_ynode_t *n)
{
    return n->style == YAML_FLOW_MAPPING_STYLE || n->style == YAML_FLOW_SEQUENCE_STYLE;
}

/* --- JSON Patch ------------------------------------------------------------------------ */

/* Decodes one RFC 6901 reference token ("~1" is '/', "~0" is '~'). */
static bool pointer_token(const char *p, size_t len, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (c == '~') {
            if (i + 1 >= len || (p[i + 1] != '0' && p[i + 1] != '1'))
                return false;
            c = p[++i] == '0' ? '~' : '/';
        }
        if (o + 1 >= outlen)
            return false;
        out[o++] = c;
    }
    out[o] = '\0';
    return true;
}

static bool array_index(const char *tok, size_t n, bool allow_end, size_t *out)
{
    if (allow_end && strcmp(tok, "-") == 0) {
        *out = n;
        return true;
    }
    if (tok[0] == '\0' || (tok[0] == '0' && tok[1] != '\0') || strlen(tok) > 9)
        return false;
    size_t v = 0;
    for (const char *p = tok; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (size_t)(*p - '0');
    }
    if (v > n || (!allow_end && v == n))
        return false;
    *out = v;
    return true;
}

static int patch_one(wf_ynode_t **root, const char *op, const char *path, const json_t *value,
                     char *err, size_t errlen)
{
    bool add = strcmp(op, "add") == 0, rem = strcmp(op, "remove") == 0,
         rep = strcmp(op, "replace") == 0;
    if (!add && !rem && !rep) {
        snprintf(err, errlen, "unsupported JSON Patch op \"%s\"", op);
        return WF_EINVAL;
    }
    if (path[0] == '\0') {
        if (rem) {
            snprintf(err, errlen, "cannot remove the document root");
            return WF_EINVAL;
        }
        wf_ynode_t *n = wf_ynode_from_json(value);
        if (n == NULL)
            return WF_ENOMEM;
        wf_ynode_free(*root);
        *root = n;
        return 0;
    }
    if (path[0] != '/') {
        snprintf(err, errlen, "JSON Patch path \"%s\" does not start with /", path);
        return WF_EINVAL;
    }
    wf_ynode_t *cur = *root;
    const char *p = path + 1;
    char tok[512];
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t tl = slash ? (size_t)(slash - p) : strlen(p);
        if (!pointer_token(p, tl, tok, sizeof(tok))) {
            snprintf(err, errlen, "bad JSON pointer \"%s\"", path);
            return WF_EINVAL;
        }
        bool last = slash == NULL;
        if (cur->type == WF_YNODE_MAP) {
            size_t at = cur->n;
            for (size_t i = 0; i + 1 < cur->n; i += 2)
                if (cur->items[i]->type == WF_YNODE_SCALAR && strcmp(cur->items[i]->str, tok) == 0)
                    at = i;
            if (!last) {
                if (at == cur->n)
                    goto missing;
                cur = cur->items[at + 1];
            } else if (rem) {
                if (at == cur->n)
                    goto missing;
                wf_ynode_free(cur->items[at]);
                wf_ynode_free(cur->items[at + 1]);
                memmove(&cur->items[at], &cur->items[at + 2],
                        (cur->n - at - 2) * sizeof(cur->items[0]));
                cur->n -= 2;
                return 0;
            } else {
                if (rep && at == cur->n)
                    goto missing;
                wf_ynode_t *v = from_json(value, is_flow(cur));
                if (v == NULL)
                    return WF_ENOMEM;
                if (at < cur->n) {
                    wf_ynode_free(cur->items[at + 1]);
                    cur->items[at + 1] = v;
                    return 0;
                }
                wf_ynode_t *k = scalar_styled(tok, strlen(tok), is_flow(cur));
                if (k == NULL || !push(cur, k) || !push(cur, v)) {
                    if (cur->n > 0 && cur->items[cur->n - 1] == k)
                        cur->n--;
                    wf_ynode_free(k);
                    wf_ynode_free(v);
                    return WF_ENOMEM;
                }
                return 0;
            }
        } else if (cur->type == WF_YNODE_SEQ) {
            size_t idx;
            if (!array_index(tok, cur->n, last && add, &idx))
                goto missing;
            if (!last) {
                cur = cur->items[idx];
            } else if (rem) {
                wf_ynode_free(cur->items[idx]);
                memmove(&cur->items[idx], &cur->items[idx + 1],
                        (cur->n - idx - 1) * sizeof(cur->items[0]));
                cur->n--;
                return 0;
            } else {
                wf_ynode_t *v = from_json(value, is_flow(cur));
                if (v == NULL)
                    return WF_ENOMEM;
                if (rep) {
                    wf_ynode_free(cur->items[idx]);
                    cur->items[idx] = v;
                } else if (!insert_at(cur, idx, v)) {
                    wf_ynode_free(v);
                    return WF_ENOMEM;
                }
                return 0;
            }
        } else {
            goto missing;
        }
        p = slash + 1;
    }
missing:
    snprintf(err, errlen, "JSON Patch %s: path \"%s\" does not exist", op, path);
    return WF_EINVAL;
}

int wf_ynode_patch(wf_ynode_t **root, const json_t *ops, char *err, size_t errlen)
{
    if (!json_is_array(ops)) {
        snprintf(err, errlen, "a JSON Patch is an array");
        return WF_EINVAL;
    }
    size_t i;
    json_t *o;
    json_array_foreach(ops, i, o)
    {
        const char *op = json_string_value(json_object_get(o, "op"));
        const char *path = json_string_value(json_object_get(o, "path"));
        json_t *value = json_object_get(o, "value");
        if (op == NULL || path == NULL || (strcmp(op, "remove") != 0 && value == NULL)) {
            snprintf(err, errlen, "JSON Patch operation %zu lacks op, path or value", i);
            return WF_EINVAL;
        }
        int rc = patch_one(root, op, path, value, err, errlen);
        if (rc != 0)
            return rc;
    }
    return 0;
}
