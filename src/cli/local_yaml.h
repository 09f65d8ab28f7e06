/*
 * local_yaml.h — Kubernetes manifests (YAML) to JSON values (jansson), for
 * local mode (`weft up`). Pure: no I/O beyond the caller's buffer.
 *
 * Scalars are typed by the YAML 1.2 core schema, as Kubernetes reads them:
 * plain `null`, `~` or nothing -> null; `true`/`false` (any case of the
 * first letter or all caps) -> bool; decimal, 0x hex and 0o octal integers
 * -> int; decimal floats, .inf, .nan -> real; everything else, and every
 * quoted or block scalar, stays a string. Explicit tags (!!str, !!int,
 * !!bool, !!float, !!null) are honoured. Mapping keys become strings; a
 * duplicate key is an error (as in Kubernetes' own decoder).
 */
#ifndef WF_CLI_LOCAL_YAML_H
#define WF_CLI_LOCAL_YAML_H

#include <jansson.h>
#include <stddef.h>

/* Limits that keep hostile input bounded (alias "billion laughs", depth). */
#define WF_YAML_MAX_DEPTH 64
#define WF_YAML_MAX_NODES 200000

/*
 * Called once per document, in order; `index` counts documents from 1.
 * On success `doc` is the value (owned by the callee; an empty document is
 * not reported at all) and `err` is NULL; on a malformed document `doc` is
 * NULL and `err` says what and where ("line 4 column 3: mapping values are
 * not allowed here"), with line numbers counted in the whole buffer.
 */
typedef void (*wf_yaml_doc_cb)(void *ctx, int index, json_t *doc, const char *err);

/*
 * Splits `buf` into documents at lines that begin with `---` (or `...`)
 * and parses each on its own, so one broken document does not hide the
 * others. Returns the number of documents reported.
 */
int wf_yaml_parse_docs(const char *buf, size_t len, wf_yaml_doc_cb cb, void *ctx);

/* Types one plain scalar per the rules above; `tag` may be NULL. */
json_t *wf_yaml_scalar(const char *s, size_t len, const char *tag, int plain);

#endif
