/*
 * yaml.h — YAML documents (kubeconfig, manifests) as jansson values, via
 * libyaml. Mappings become objects, sequences arrays, and every scalar a
 * string (kubeconfig's values are strings; a reader that wants a boolean
 * compares "true"). Aliases are refused: kubeconfigs do not use them and
 * they are the classic YAML amplification attack.
 */
#ifndef WF_K8S_YAML_H
#define WF_K8S_YAML_H

#include "core/common.h"

#include <jansson.h>

/* The first document of data[0..len) as JSON; NULL + a message naming the
 * line on error. Nesting deeper than 64 levels is refused. */
json_t *wf_yaml_load(const char *data, size_t len, char *err, size_t errlen);
/* Reads and parses a file (at most 4 MiB). */
json_t *wf_yaml_load_file(const char *path, char *err, size_t errlen);

#endif
