/*
 * install_crds.c — the CustomResourceDefinitions `weft install --crds`
 * prints: the policy.linkerd.io resources and linkerd.io ServiceProfile,
 * with OpenAPI v3 schemas written for weft from the resources' documented
 * fields (the API server prunes fields a structural schema does not name,
 * so every field the controllers read is declared).
 *
 * Schemas are JSON text, parsed once per run; install.c wraps each in a
 * CRD object. A test (tests/unit/cli) parses every one.
 */
#include "install.h"

#include <stdio.h>

/* Shared pieces, spliced into the schemas below. */
#define S_STR "{\"type\":\"string\"}"
#define S_STRS "{\"type\":\"array\",\"items\":" S_STR "}"
#define S_PORT "{\"x-kubernetes-int-or-string\":true}"
#define S_SELECTOR                                                                                 \
    "{\"type\":\"object\",\"properties\":{\"matchLabels\":{\"type\":\"object\","                   \
    "\"additionalProperties\":" S_STR "},\"matchExpressions\":{\"type\":\"array\",\"items\":{"     \
    "\"type\":\"object\",\"required\":[\"key\",\"operator\"],\"properties\":{\"key\":" S_STR       \
    ",\"operator\":{\"type\":\"string\",\"enum\":[\"In\",\"NotIn\",\"Exists\",\"DoesNotExist\"]}," \
    "\"values\":" S_STRS "}}}}}"
#define S_NETWORKS                                                                                 \
    "{\"type\":\"array\",\"items\":{\"type\":\"object\",\"required\":[\"cidr\"],\"properties\":{"  \
    "\"cidr\":" S_STR ",\"except\":" S_STRS "}}}"
#define S_TARGET_REF                                                                               \
    "{\"type\":\"object\",\"required\":[\"kind\",\"name\"],\"properties\":{\"group\":" S_STR       \
    ",\"kind\":" S_STR ",\"name\":" S_STR ",\"namespace\":" S_STR "}}"
#define S_DURATION "{\"type\":\"string\",\"pattern\":\"^([0-9]{1,5}(h|m|s|ms)){1,4}$\"}"
#define S_HEADER_MATCH                                                                             \
    "{\"type\":\"array\",\"maxItems\":16,\"items\":{\"type\":\"object\",\"required\":[\"name\","   \
    "\"value\"],\"properties\":{\"type\":{\"type\":\"string\",\"enum\":[\"Exact\","                \
    "\"RegularExpression\"],\"default\":\"Exact\"},\"name\":" S_STR ",\"value\":" S_STR "}}}"

static const char server_schema[] =
    "{\"type\":\"object\",\"required\":[\"spec\"],\"properties\":{\"spec\":{\"type\":\"object\","
    "\"required\":[\"port\"],\"properties\":{\"podSelector\":" S_SELECTOR
    ",\"externalWorkloadSelector\":" S_SELECTOR ",\"port\":" S_PORT
    ",\"proxyProtocol\":{\"type\":\"string\",\"default\":\"unknown\",\"enum\":[\"unknown\","
    "\"HTTP/1\",\"HTTP/2\",\"gRPC\",\"opaque\",\"TLS\"]},\"accessPolicy\":{\"type\":\"string\","
    "\"default\":\"deny\",\"enum\":[\"all-unauthenticated\",\"all-authenticated\","
    "\"cluster-authenticated\",\"cluster-unauthenticated\",\"deny\",\"audit\"]}},"
    "\"oneOf\":[{\"required\":[\"podSelector\"]},{\"required\":[\"externalWorkloadSelector\"]}]}}}";

static const char serverauthz_schema[] =
    "{\"type\":\"object\",\"required\":[\"spec\"],\"properties\":{\"spec\":{\"type\":\"object\","
    "\"required\":[\"server\",\"client\"],\"properties\":{\"server\":{\"type\":\"object\","
    "\"properties\":{\"name\":" S_STR ",\"selector\":" S_SELECTOR "},\"oneOf\":[{\"required\":["
    "\"name\"]},{\"required\":[\"selector\"]}]},\"client\":{\"type\":\"object\",\"properties\":{"
    "\"networks\":" S_NETWORKS ",\"unauthenticated\":{\"type\":\"boolean\"},\"meshTLS\":{"
    "\"type\":\"object\",\"properties\":{\"unauthenticatedTLS\":{\"type\":\"boolean\"},"
    "\"identities\":" S_STRS ",\"serviceAccounts\":{\"type\":\"array\",\"items\":{\"type\":"
    "\"object\",\"required\":[\"name\"],\"properties\":{\"name\":" S_STR ",\"namespace\":" S_STR
    "}}}}}}}}}}}";

static const char authzpolicy_schema[] =
    "{\"type\":\"object\",\"required\":[\"spec\"],\"properties\":{\"spec\":{\"type\":\"object\","
    "\"required\":[\"targetRef\",\"requiredAuthenticationRefs\"],\"properties\":{"
    "\"targetRef\":" S_TARGET_REF
    ",\"requiredAuthenticationRefs\":{\"type\":\"array\",\"items\":" S_TARGET_REF "}}}}}";

static const char meshtls_schema[] =
    "{\"type\":\"object\",\"required\":[\"spec\"],\"properties\":{\"spec\":{\"type\":\"object\","
    "\"properties\":{\"identities\":{\"type\":\"array\",\"minItems\":1,\"items\":" S_STR
    "},\"identityRefs\":{\"type\":\"array\",\"minItems\":1,\"items\":" S_TARGET_REF
    "}},\"oneOf\":[{\"required\":[\"identities\"]},{\"required\":[\"identityRefs\"]}]}}}";

static const char netauthn_schema[] =
    "{\"type\":\"object\",\"required\":[\"spec\"],\"properties\":{\"spec\":{\"type\":\"object\","
    "\"required\":[\"networks\"],\"properties\":{\"networks\":" S_NETWORKS "}}}}";

static const char httproute_schema[] =
    "{\"type\":\"object\",\"required\":[\"spec\"],\"properties\":{\"spec\":{\"type\":\"object\","
    "\"properties\":{\"parentRefs\":{\"type\":\"array\",\"maxItems\":32,\"items\":{\"type\":"
    "\"object\",\"required\":[\"name\"],\"properties\":{\"group\":" S_STR ",\"kind\":" S_STR
    ",\"namespace\":" S_STR ",\"name\":" S_STR ",\"sectionName\":" S_STR
    ",\"port\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":65535}}}},\"hostnames\":" S_STRS
    ",\"rules\":{\"type\":\"array\",\"maxItems\":16,\"items\":{\"type\":\"object\",\"properties\":"
    "{\"matches\":{\"type\":\"array\",\"maxItems\":8,\"items\":{\"type\":\"object\",\"properties\":"
    "{\"path\":{\"type\":\"object\",\"properties\":{\"type\":{\"type\":\"string\",\"enum\":["
    "\"Exact\",\"PathPrefix\",\"RegularExpression\"],\"default\":\"PathPrefix\"},\"value\":{"
    "\"type\":\"string\",\"default\":\"/\"}}},\"headers\":" S_HEADER_MATCH
    ",\"queryParams\":" S_HEADER_MATCH ",\"method\":{\"type\":\"string\",\"enum\":[\"GET\","
    "\"HEAD\",\"POST\",\"PUT\",\"DELETE\",\"CONNECT\",\"OPTIONS\",\"TRACE\",\"PATCH\"]}}}},"
    "\"filters\":{\"type\":\"array\",\"maxItems\":16,\"items\":{\"type\":\"object\",\"required\":["
    "\"type\"],\"properties\":{\"type\":{\"type\":\"string\",\"enum\":["
    "\"RequestHeaderModifier\",\"ResponseHeaderModifier\",\"RequestRedirect\"]},"
    "\"requestHeaderModifier\":{\"type\":\"object\",\"x-kubernetes-preserve-unknown-fields\":true},"
    "\"responseHeaderModifier\":{\"type\":\"object\",\"x-kubernetes-preserve-unknown-fields\":true}"
    ","
    "\"requestRedirect\":{\"type\":\"object\",\"x-kubernetes-preserve-unknown-fields\":true}}}},"
    "\"backendRefs\":{\"type\":\"array\",\"maxItems\":16,\"items\":{\"type\":\"object\","
    "\"required\":[\"name\"],\"properties\":{\"group\":" S_STR ",\"kind\":" S_STR ",\"name\":" S_STR
    ",\"namespace\":" S_STR ",\"port\":{\"type\":\"integer\",\"minimum\":1,"
    "\"maximum\":65535},\"weight\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":1000000,"
    "\"default\":1}}}},\"timeouts\":{\"type\":\"object\",\"properties\":{\"request\":" S_DURATION
    ",\"backendRequest\":" S_DURATION "}}}}}}}}}";

static const char serviceprofile_schema[] =
    "{\"type\":\"object\",\"properties\":{\"spec\":{\"type\":\"object\",\"properties\":{"
    "\"opaquePorts\":" S_STRS ",\"routes\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
    "\"required\":[\"name\",\"condition\"],\"properties\":{\"name\":" S_STR ",\"condition\":{"
    "\"type\":\"object\",\"x-kubernetes-preserve-unknown-fields\":true,\"properties\":{"
    "\"method\":" S_STR ",\"pathRegex\":" S_STR
    "}},\"responseClasses\":{\"type\":\"array\",\"items\":{\"type\":"
    "\"object\",\"required\":[\"condition\"],\"properties\":{\"condition\":{\"type\":\"object\","
    "\"x-kubernetes-preserve-unknown-fields\":true},\"isFailure\":{\"type\":\"boolean\"}}}},"
    "\"isRetryable\":{\"type\":\"boolean\"},\"timeout\":" S_STR "}}},\"retryBudget\":{\"type\":"
    "\"object\",\"required\":[\"minRetriesPerSecond\",\"retryRatio\",\"ttl\"],\"properties\":{"
    "\"minRetriesPerSecond\":{\"type\":\"integer\",\"format\":\"int32\"},\"retryRatio\":{"
    "\"type\":\"number\",\"format\":\"float\",\"minimum\":0},\"ttl\":" S_STR "}},"
    "\"dstOverrides\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"required\":["
    "\"authority\",\"weight\"],\"properties\":{\"authority\":" S_STR ",\"weight\":{"
    "\"x-kubernetes-int-or-string\":true}}}}}}}}";

const wf_install_crd_t wf_install_crds[] = {
    {"policy.linkerd.io", "servers", "server", "Server", "srv", "v1beta3", server_schema},
    {"policy.linkerd.io", "serverauthorizations", "serverauthorization", "ServerAuthorization",
     "saz", "v1beta1", serverauthz_schema},
    {"policy.linkerd.io", "authorizationpolicies", "authorizationpolicy", "AuthorizationPolicy",
     "authzpolicy", "v1alpha1", authzpolicy_schema},
    {"policy.linkerd.io", "meshtlsauthentications", "meshtlsauthentication",
     "MeshTLSAuthentication", "meshtlsauthn", "v1alpha1", meshtls_schema},
    {"policy.linkerd.io", "networkauthentications", "networkauthentication",
     "NetworkAuthentication", "netauthn", "v1alpha1", netauthn_schema},
    {"policy.linkerd.io", "httproutes", "httproute", "HTTPRoute", NULL, "v1beta3",
     httproute_schema},
    {"linkerd.io", "serviceprofiles", "serviceprofile", "ServiceProfile", "sp", "v1alpha2",
     serviceprofile_schema},
};
const size_t wf_install_ncrds = WF_ARRAY_LEN(wf_install_crds);
