/*
 * ydoc.h — YAML documents as an ordered node tree, for tools that must
 * change a manifest and write it back without disturbing it (weft inject /
 * uninject): key order, scalar styles (plain, quoted, literal, folded),
 * flow or block collections, tags and anchors are kept through a
 * parse -> patch -> emit round trip. Comments are not: libyaml's parser
 * drops them (wf_ydoc_has_comments tells a caller to say so).
 *
 * Aliases are refused (an alias would be a shared node, and patching one
 * place would silently patch the others; they are also YAML's
 * amplification attack), and so are duplicate keys in a mapping (YAML
 * forbids them, kubectl refuses them, and a patch would touch only one). Limits: 4 MiB of input, 64 levels of nesting,
 * 1,000 documents.
 *
 * The JSON view (wf_ynode_to_json) types scalars as Kubernetes' YAML
 * decoder does for the values a manifest holds: a plain scalar that reads
 * as an integer, float, true/false or null becomes one; quoted scalars and
 * !!str are strings. JSON Patch (RFC 6902) operations — add, remove,
 * replace — apply to the tree with wf_ynode_patch, so one patch serves
 * both the webhook (sent as JSON) and the CLI (applied to the YAML).
 *
 * Ownership: a tree is owned by its document list; nodes are plain
 * malloc'd memory with no sharing. Not thread-safe, no global state.
 */
#ifndef WF_K8S_YDOC_H
#define WF_K8S_YDOC_H

#include "core/buf.h"
#include "core/common.h"

#include <jansson.h>

typedef enum wf_ynode_type {
    WF_YNODE_SCALAR,
    WF_YNODE_SEQ,
    WF_YNODE_MAP,
} wf_ynode_type_t;

typedef struct wf_ynode wf_ynode_t;
struct wf_ynode {
    wf_ynode_type_t type;
    int style;            /* libyaml's scalar / sequence / mapping style */
    char *tag;            /* owned; NULL for the non-specific tag */
    char *anchor;         /* owned; NULL when none */
    bool plain_implicit;  /* scalar: the tag may be omitted when plain */
    bool quoted_implicit; /* scalar: ... when quoted */
    char *str;            /* owned, NUL-terminated: a scalar's value */
    size_t len;           /* its length (it may hold NULs) */
    wf_ynode_t **items;   /* owned: SEQ items; MAP keys and values alternating */
    size_t n, cap;        /* items used / allocated (a MAP has n/2 pairs) */
    size_t line;        /* 1-based line where it starts in the input (0: made here) */
};

typedef struct wf_ydocs {
    wf_ynode_t **docs; /* owned: one root per document (never NULL entries) */
    size_t n, cap;
    bool explicit_start; /* the first document began with "---" */
} wf_ydocs_t;

/* Parses every document of data[0..len). Returns 0, or WF_EINVAL with a
 * message naming the line (syntax, an alias, too deep) / WF_ELIMIT. An
 * empty stream is zero documents. */
int wf_ydoc_parse(const char *data, size_t len, wf_ydocs_t *out, char *err, size_t errlen);
void wf_ydocs_free(wf_ydocs_t *d);
/* Emits the documents ("---" between them) into out. 0 or WF_EINVAL. */
int wf_ydoc_emit(const wf_ydocs_t *d, wf_sbuf_t *out, char *err, size_t errlen);
/* Heuristic: does the text hold a YAML comment (a '#' that starts a line
 * or follows a blank, outside quotes on that line)? */
bool wf_ydoc_has_comments(const char *data, size_t len);

void wf_ynode_free(wf_ynode_t *n);
/* The value of key in a MAP (NULL when absent or not a MAP). */
wf_ynode_t *wf_ynode_get(const wf_ynode_t *map, const char *key);
/* JSON view (a new reference; NULL on allocation failure). */
json_t *wf_ynode_to_json(const wf_ynode_t *n);
/* A tree for a JSON value; strings that would read back as something else
 * are quoted, multi-line strings use the literal style. */
wf_ynode_t *wf_ynode_from_json(const json_t *j);
/* Applies JSON Patch operations (array of {op, path[, value]}; add, remove
 * and replace) to *root. Returns 0, or WF_EINVAL with a message naming the
 * failing operation; on error the tree may be partly patched. */
int wf_ynode_patch(wf_ynode_t **root, const json_t *ops, char *err, size_t errlen);

#endif
