/*
 * cert.c — see cert.h. X.509 building, checking, loading and writing with
 * OpenSSL 3's EVP/X509 APIs; no deprecated low-level EC_KEY calls.
 */
#include "tls/cert.h"

#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* Files we read are certificates and keys: anything bigger is not one. */
#define WF_CERT_FILE_MAX (1024 * 1024)

static void wf_cert_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void wf_cert_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* The reason of OpenSSL's most recent error, and clears its queue. */
static const char *wf_cert_ossl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return r ? r : "unknown OpenSSL error";
}

int wf_cert_parse_duration(const char *s, int64_t *secs)
{
    if (s == NULL || *s == '\0')
        return WF_EINVAL;
    if (*s == '+')
        s++;
    int64_t total = 0;
    bool any = false;
    while (*s != '\0') {
        if (!isdigit((unsigned char)*s))
            return WF_EINVAL;
        int64_t n = 0;
        while (isdigit((unsigned char)*s)) {
            if (n > (INT64_MAX - 9) / 10)
                return WF_ERANGE;
            n = n * 10 + (*s++ - '0');
        }
        int64_t unit;
        switch (*s) {
        case 'd':
            unit = 86400;
            break;
        case 'h':
            unit = 3600;
            break;
        case 'm':
            unit = 60;
            break;
        case 's':
            unit = 1;
            break;
        default: /* no unit, or one we don't take ("ms", "y", ".5h") */
            return WF_EINVAL;
        }
        s++;
        if (*s != '\0' && !isdigit((unsigned char)*s))
            return WF_EINVAL; /* "30ms", "1hx" */
        if (n > INT64_MAX / unit || total > INT64_MAX - n * unit)
            return WF_ERANGE;
        total += n * unit;
        any = true;
    }
    if (!any)
        return WF_EINVAL;
    if (total == 0)
        return WF_ERANGE;
    *secs = total;
    return 0;
}

int wf_cert_key_generate(EVP_PKEY **out)
{
    *out = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (*out == NULL) {
        ERR_clear_error();
        return WF_ENOMEM;
    }
    return 0;
}

/*
 * Sets a random 128-bit serial. RFC 5280 4.1.2.2 wants it positive and at
 * most 20 octets: BN_bin2bn reads the bytes as unsigned, so it is positive,
 * and its DER is at most 17 octets (16 plus a sign octet).
 */
static int wf_cert_set_serial(X509 *x)
{
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return WF_EPROTO;
    BIGNUM *bn = BN_bin2bn(raw, sizeof(raw), NULL);
    if (bn == NULL)
        return WF_ENOMEM;
    ASN1_INTEGER *ai = BN_to_ASN1_INTEGER(bn, NULL);
    BN_free(bn);
    if (ai == NULL)
        return WF_ENOMEM;
    int ok = X509_set_serialNumber(x, ai);
    ASN1_INTEGER_free(ai);
    return ok == 1 ? 0 : WF_ENOMEM;
}

/* Adds one extension from its OpenSSL config-string form ("critical,CA:TRUE"). */
static int wf_cert_add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
    if (ext == NULL)
        return WF_EINVAL;
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok == 1 ? 0 : WF_ENOMEM;
}

int wf_cert_build(const wf_cert_spec_t *spec, EVP_PKEY *key, X509 *ca_cert, EVP_PKEY *ca_key,
                  X509 **out, char *err, size_t errlen)
{
    *out = NULL;
    bool self_signed = ca_cert == NULL;
    if (self_signed != (ca_key == NULL) || (self_signed && spec->kind != WF_CERT_ROOT_CA) ||
        (!self_signed && spec->kind == WF_CERT_ROOT_CA)) {
        wf_cert_errf(err, errlen, "a root CA is self-signed; other certificates need a CA");
        return WF_EINVAL;
    }
    size_t nlen = spec->name ? strlen(spec->name) : 0;
    if (nlen == 0) {
        wf_cert_errf(err, errlen, "the certificate name is empty");
        return WF_EINVAL;
    }
    bool use_cn = nlen <= WF_CERT_CN_MAX;
    if (!use_cn && spec->kind != WF_CERT_LEAF) {
        wf_cert_errf(err, errlen,
                     "name \"%s\" is %zu characters; a CA name is a subject CN of at most %d",
                     spec->name, nlen, WF_CERT_CN_MAX);
        return WF_EINVAL;
    }
    if (spec->not_after <= spec->not_before) {
        wf_cert_errf(err, errlen, "the validity period is empty (notAfter is not after notBefore)");
        return WF_EINVAL;
    }

    int rc = WF_ENOMEM;
    X509 *x = X509_new();
    X509_NAME *subj = X509_NAME_new();
    if (x == NULL || subj == NULL)
        goto fail;
    if (X509_set_version(x, X509_VERSION_3) != 1 || (rc = wf_cert_set_serial(x)) != 0)
        goto fail;
    rc = WF_ENOMEM;
    if (use_cn && X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_UTF8,
                                             (const unsigned char *)spec->name, -1, -1, 0) != 1)
        goto fail;
    if (X509_set_subject_name(x, subj) != 1 ||
        X509_set_issuer_name(x, self_signed ? subj : X509_get_subject_name(ca_cert)) != 1)
        goto fail;
    /* ASN1_TIME_set picks UTCTime before 2050 and GeneralizedTime after (RFC 5280 4.1.2.5). */
    if (ASN1_TIME_set(X509_getm_notBefore(x), spec->not_before) == NULL ||
        ASN1_TIME_set(X509_getm_notAfter(x), spec->not_after) == NULL)
        goto fail;
    if (X509_set_pubkey(x, key) != 1)
        goto fail;

    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, self_signed ? x : ca_cert, x, NULL, NULL, 0);
    const char *bc = NULL, *ku = NULL;
    switch (spec->kind) {
    case WF_CERT_ROOT_CA:
        bc = "critical,CA:TRUE,pathlen:1";
        ku = "critical,keyCertSign,cRLSign";
        break;
    case WF_CERT_INTERMEDIATE_CA:
        bc = "critical,CA:TRUE,pathlen:0";
        ku = "critical,keyCertSign,cRLSign";
        break;
    case WF_CERT_LEAF:
        bc = "critical,CA:FALSE";
        ku = "critical,digitalSignature";
        break;
    }
    rc = WF_EINVAL;
    if (wf_cert_add_ext(x, &ctx, NID_basic_constraints, bc) != 0 ||
        wf_cert_add_ext(x, &ctx, NID_key_usage, ku) != 0 ||
        wf_cert_add_ext(x, &ctx, NID_subject_key_identifier, "hash") != 0)
        goto ossl_fail;
    if (!self_signed && wf_cert_add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") != 0)
        goto ossl_fail;
    if (spec->kind == WF_CERT_LEAF) {
        /* The SAN goes in as a GENERAL_NAME, not a config string, so a name
         * holding ',' or ':' cannot smuggle in a second SAN. */
        GENERAL_NAMES *gens = GENERAL_NAMES_new();
        GENERAL_NAME *gen = GENERAL_NAME_new();
        ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
        int ok = gens && gen && ia5 && ASN1_STRING_set(ia5, spec->name, (int)nlen) == 1;
        if (ok) {
            GENERAL_NAME_set0_value(gen, GEN_DNS, ia5);
            ia5 = NULL;
            ok = sk_GENERAL_NAME_push(gens, gen) > 0;
            if (ok)
                gen = NULL;
        }
        ok = ok && X509_add1_ext_i2d(x, NID_subject_alt_name, gens, use_cn ? 0 : 1, 0) == 1;
        ASN1_IA5STRING_free(ia5);
        GENERAL_NAME_free(gen);
        GENERAL_NAMES_free(gens);
        if (!ok || wf_cert_add_ext(x, &ctx, NID_ext_key_usage, "serverAuth,clientAuth") != 0)
            goto ossl_fail;
    }
    if (X509_sign(x, self_signed ? key : ca_key, EVP_sha256()) <= 0)
        goto ossl_fail;

    X509_NAME_free(subj);
    *out = x;
    return 0;

ossl_fail:
    wf_cert_errf(err, errlen, "building the certificate failed: %s", wf_cert_ossl_reason());
    X509_NAME_free(subj);
    X509_free(x);
    return rc;
fail:
    ERR_clear_error();
    wf_cert_errf(err, errlen, "building the certificate failed: %s", wf_strerror(rc));
    X509_NAME_free(subj);
    X509_free(x);
    return rc;
}

/* Converts an ASN1_TIME to epoch seconds. */
static int wf_cert_asn1_time(const ASN1_TIME *t, time_t *out)
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return WF_EINVAL;
    *out = timegm(&tm);
    return 0;
}

int wf_cert_validity(const X509 *cert, time_t *not_before, time_t *not_after)
{
    if (wf_cert_asn1_time(X509_get0_notBefore(cert), not_before) != 0 ||
        wf_cert_asn1_time(X509_get0_notAfter(cert), not_after) != 0)
        return WF_EINVAL;
    return 0;
}

void wf_cert_key_describe(const EVP_PKEY *key, char *out, size_t outlen)
{
    int id = EVP_PKEY_get_base_id(key);
    if (id == EVP_PKEY_EC) {
        char group[64] = "";
        size_t glen = 0;
        if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                           &glen) != 1) {
            ERR_clear_error();
            snprintf(group, sizeof(group), "unknown curve");
        }
        /* OpenSSL names the NIST curves by their SEC names. */
        const char *pretty = strcmp(group, "prime256v1") == 0  ? "P-256"
                             : strcmp(group, "secp384r1") == 0 ? "P-384"
                             : strcmp(group, "secp521r1") == 0 ? "P-521"
                                                               : group;
        snprintf(out, outlen, "ECDSA %s", pretty);
    } else if (id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS) {
        snprintf(out, outlen, "RSA %d", EVP_PKEY_get_bits(key));
    } else if (id == EVP_PKEY_ED25519) {
        snprintf(out, outlen, "Ed25519");
    } else if (id == EVP_PKEY_ED448) {
        snprintf(out, outlen, "Ed448");
    } else {
        const char *n = OBJ_nid2sn(id);
        snprintf(out, outlen, "%s", n ? n : "unknown key type");
    }
}

int wf_cert_check_signer(X509 *ca_cert, EVP_PKEY *ca_key, wf_cert_kind_t kind, time_t now,
                         const char *cert_name, const char *key_name, char *err, size_t errlen)
{
    char desc[64];
    wf_cert_key_describe(ca_key, desc, sizeof(desc));
    if (strcmp(desc, "ECDSA P-256") != 0 && strcmp(desc, "ECDSA P-384") != 0) {
        wf_cert_errf(err, errlen,
                     "%s: wrong key type: %s; a weft CA key must be ECDSA P-256 (or P-384)",
                     key_name, desc);
        return WF_EINVAL;
    }
    EVP_PKEY *pub = X509_get0_pubkey(ca_cert);
    if (pub == NULL || EVP_PKEY_eq(pub, ca_key) != 1) {
        ERR_clear_error();
        wf_cert_errf(err, errlen, "%s: the key does not match the certificate in %s", key_name,
                     cert_name);
        return WF_EINVAL;
    }
    /* X509_get_extension_flags also caches the parsed extensions; an
     * unparseable one sets EXFLAG_INVALID. */
    uint32_t fl = X509_get_extension_flags(ca_cert);
    if (fl & EXFLAG_INVALID) {
        wf_cert_errf(err, errlen, "%s: the certificate has malformed extensions", cert_name);
        return WF_EINVAL;
    }
    if (!(fl & EXFLAG_CA)) {
        wf_cert_errf(err, errlen,
                     "%s: not a CA certificate (basicConstraints CA:TRUE is missing); it cannot "
                     "sign certificates",
                     cert_name);
        return WF_EINVAL;
    }
    if ((fl & EXFLAG_KUSAGE) && !(X509_get_key_usage(ca_cert) & KU_KEY_CERT_SIGN)) {
        wf_cert_errf(err, errlen,
                     "%s: its keyUsage does not allow certificate signing (keyCertSign)",
                     cert_name);
        return WF_EINVAL;
    }
    if (kind != WF_CERT_LEAF && X509_get_pathlen(ca_cert) == 0) {
        wf_cert_errf(err, errlen,
                     "%s: its pathlen is 0, so it may sign only leaf certificates, not another CA "
                     "(is it an issuer rather than the trust anchor?)",
                     cert_name);
        return WF_EINVAL;
    }
    time_t nb, na;
    if (wf_cert_validity(ca_cert, &nb, &na) != 0) {
        wf_cert_errf(err, errlen, "%s: unreadable validity dates", cert_name);
        return WF_EINVAL;
    }
    char when[32];
    if (now >= na) {
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&na));
        wf_cert_errf(err, errlen, "%s: the CA certificate expired at %s", cert_name, when);
        return WF_EINVAL;
    }
    if (now < nb) {
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&nb));
        wf_cert_errf(err, errlen, "%s: the CA certificate is not valid until %s", cert_name, when);
        return WF_EINVAL;
    }
    return 0;
}

/* A file's contents and a read-only memory BIO over them (which does not own them). */
typedef struct wf_cert_file {
    char *data; /* owned; NUL-terminated; cleansed on free (may be a key) */
    size_t len;
    BIO *bio; /* owned */
} wf_cert_file_t;

static void wf_cert_file_free(wf_cert_file_t *f)
{
    BIO_free(f->bio);
    if (f->data != NULL) {
        OPENSSL_cleanse(f->data, f->len);
        free(f->data);
    }
    memset(f, 0, sizeof(*f));
}

/* Reads a whole (small) regular file. */
static int wf_cert_read_file(const char *path, wf_cert_file_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        wf_cert_errf(err, errlen, "%s: %s", path,
                     e == ENOENT   ? "no such file"
                     : e == EACCES ? "permission denied"
                                   : strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        wf_cert_errf(err, errlen, "%s: not a regular file", path);
        return WF_EINVAL;
    }
    if (st.st_size > WF_CERT_FILE_MAX) {
        close(fd);
        wf_cert_errf(err, errlen, "%s: too big for a certificate or key (%lld bytes)", path,
                     (long long)st.st_size);
        return WF_ELIMIT;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        close(fd);
        return WF_ENOMEM;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            free(buf);
            close(fd);
            wf_cert_errf(err, errlen, "%s: read failed: %s", path, strerror(e));
            return -e;
        }
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    out->data = buf;
    out->len = got;
    if (got == 0) {
        wf_cert_file_free(out);
        wf_cert_errf(err, errlen, "%s: the file is empty", path);
        return WF_EINVAL;
    }
    out->bio = BIO_new_mem_buf(buf, (int)got);
    if (out->bio == NULL) {
        wf_cert_file_free(out);
        return WF_ENOMEM;
    }
    return 0;
}

/* True if the file's data contains `needle`. */
static bool wf_cert_file_has(const wf_cert_file_t *f, const char *needle)
{
    return memmem(f->data, f->len, needle, strlen(needle)) != NULL;
}

int wf_cert_load_certs(const char *path, STACK_OF(X509) * *out, char *err, size_t errlen)
{
    *out = NULL;
    wf_cert_file_t file;
    int rc = wf_cert_read_file(path, &file, err, errlen);
    if (rc != 0)
        return rc;
    BIO *bio = file.bio;
    /* Only plain CERTIFICATE blocks: PEM_read_bio_X509 skips "TRUSTED CERTIFICATE". */
    bool has_cert = wf_cert_file_has(&file, "-----BEGIN CERTIFICATE-----");
    if (!has_cert) {
        if (wf_cert_file_has(&file, "PRIVATE KEY-----"))
            wf_cert_errf(err, errlen, "%s: holds a private key, not a certificate", path);
        else if (wf_cert_file_has(&file, "-----BEGIN "))
            wf_cert_errf(err, errlen, "%s: holds PEM data but no CERTIFICATE block", path);
        else
            wf_cert_errf(err, errlen,
                         "%s: not a PEM certificate (no \"-----BEGIN CERTIFICATE-----\"; DER "
                         "files can be converted with `openssl x509 -inform der`)",
                         path);
        wf_cert_file_free(&file);
        return WF_EINVAL;
    }
    STACK_OF(X509) *sk = sk_X509_new_null();
    if (sk == NULL) {
        wf_cert_file_free(&file);
        return WF_ENOMEM;
    }
    for (;;) {
        X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (x == NULL) {
            unsigned long e = ERR_peek_last_error();
            bool eof = ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
            if (e == 0 || (eof && sk_X509_num(sk) > 0)) {
                ERR_clear_error();
                break;
            }
            wf_cert_errf(err, errlen, "%s: certificate #%d is corrupt: %s", path,
                         sk_X509_num(sk) + 1, wf_cert_ossl_reason());
            sk_X509_pop_free(sk, X509_free);
            wf_cert_file_free(&file);
            return WF_EINVAL;
        }
        if (sk_X509_push(sk, x) <= 0) {
            X509_free(x);
            sk_X509_pop_free(sk, X509_free);
            wf_cert_file_free(&file);
            return WF_ENOMEM;
        }
    }
    wf_cert_file_free(&file);
    *out = sk;
    return 0;
}

/* PEM password callback: refuses, so an encrypted key fails to load instead of prompting. */
static int wf_cert_no_password(char *buf, int size, int rwflag, void *u)
{
    *(bool *)u = true;
    return -1;
}

int wf_cert_load_key(const char *path, EVP_PKEY **out, char *err, size_t errlen)
{
    *out = NULL;
    wf_cert_file_t file;
    int rc = wf_cert_read_file(path, &file, err, errlen);
    if (rc != 0)
        return rc;
    BIO *bio = file.bio;
    if (wf_cert_file_has(&file, "ENCRYPTED")) {
        wf_cert_errf(err, errlen,
                     "%s: the key is encrypted; weft reads only unencrypted keys (decrypt it with "
                     "`openssl pkey -in %s -out plain.key`)",
                     path, path);
        wf_cert_file_free(&file);
        return WF_EINVAL;
    }
    if (!wf_cert_file_has(&file, "PRIVATE KEY-----")) {
        if (wf_cert_file_has(&file, "-----BEGIN CERTIFICATE-----"))
            wf_cert_errf(err, errlen, "%s: holds a certificate, not a private key", path);
        else
            wf_cert_errf(err, errlen, "%s: not a PEM private key (no \"PRIVATE KEY\" block)", path);
        wf_cert_file_free(&file);
        return WF_EINVAL;
    }
    bool asked = false;
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, wf_cert_no_password, &asked);
    wf_cert_file_free(&file);
    if (key == NULL) {
        if (asked)
            wf_cert_errf(err, errlen, "%s: the key is encrypted; weft reads only unencrypted keys",
                         path);
        else
            wf_cert_errf(err, errlen, "%s: the private key is corrupt: %s", path,
                         wf_cert_ossl_reason());
        ERR_clear_error();
        return WF_EINVAL;
    }
    *out = key;
    return 0;
}

/*
 * Writes through a temporary file next to `path` (mkstemp: created 0600, so
 * a key is never readable by others), then moves it into place: rename()
 * with `force`, link() without it, which fails with EEXIST atomically if
 * `path` appeared meanwhile.
 */
static int wf_cert_write_atomic(const char *path, mode_t mode, bool force, X509 *cert,
                                EVP_PKEY *key, char *err, size_t errlen)
{
    struct stat st;
    if (!force && lstat(path, &st) == 0) {
        wf_cert_errf(err, errlen, "%s: already exists; refusing to overwrite it (use --force)",
                     path);
        return -EEXIST;
    }
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp)) {
        wf_cert_errf(err, errlen, "%s: path too long", path);
        return -ENAMETOOLONG;
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        wf_cert_errf(err, errlen, "%s: cannot create a file there: %s", path, strerror(e));
        return -e;
    }
    int rc = 0;
    const char *what = "write";
    BIO *bio = BIO_new_fd(fd, BIO_NOCLOSE);
    if (bio == NULL) {
        rc = WF_ENOMEM;
    } else {
        int ok = cert ? PEM_write_bio_X509(bio, cert)
                      : PEM_write_bio_PrivateKey_traditional(bio, key, NULL, NULL, 0, NULL, NULL);
        if (ok != 1 || BIO_flush(bio) != 1)
            rc = -EIO;
        BIO_free(bio);
        ERR_clear_error();
    }
    if (rc == 0 && fchmod(fd, mode) != 0) {
        rc = -errno;
        what = "chmod";
    }
    if (rc == 0 && fsync(fd) != 0) {
        rc = -errno;
        what = "fsync";
    }
    if (close(fd) != 0 && rc == 0) {
        rc = -errno;
        what = "close";
    }
    if (rc == 0) {
        if (force) {
            if (rename(tmp, path) != 0) {
                rc = -errno;
                what = "rename";
            }
        } else if (link(tmp, path) != 0) {
            rc = -errno;
            what = "link";
        }
    }
    if (rc != 0 || !force)
        unlink(tmp);
    if (rc == -EEXIST)
        wf_cert_errf(err, errlen, "%s: already exists; refusing to overwrite it (use --force)",
                     path);
    else if (rc != 0)
        wf_cert_errf(err, errlen, "%s: %s failed: %s", path, what, wf_strerror(rc));
    return rc;
}

int wf_cert_write_cert(const char *path, X509 *cert, bool force, char *err, size_t errlen)
{
    return wf_cert_write_atomic(path, 0644, force, cert, NULL, err, errlen);
}

int wf_cert_write_key(const char *path, EVP_PKEY *key, bool force, char *err, size_t errlen)
{
    return wf_cert_write_atomic(path, 0600, force, NULL, key, err, errlen);
}

int wf_cert_verify(X509 *leaf, STACK_OF(X509) * untrusted, STACK_OF(X509) * anchors, time_t now,
                   char *err, size_t errlen)
{
    int rc = WF_ENOMEM;
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    if (store == NULL || ctx == NULL)
        goto out;
    for (int i = 0; i < sk_X509_num(anchors); i++)
        if (X509_STORE_add_cert(store, sk_X509_value(anchors, i)) != 1)
            goto out;
    if (X509_STORE_CTX_init(ctx, store, leaf, untrusted) != 1)
        goto out;
    if (now != 0)
        X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), now);
    if (X509_verify_cert(ctx) == 1) {
        rc = 0;
        goto out;
    }
    int verr = X509_STORE_CTX_get_error(ctx);
    int depth = X509_STORE_CTX_get_error_depth(ctx);
    X509 *bad = X509_STORE_CTX_get_current_cert(ctx);
    char subj[256] = "?";
    if (bad != NULL)
        X509_NAME_oneline(X509_get_subject_name(bad), subj, sizeof(subj));
    wf_cert_errf(err, errlen, "%s (at depth %d, %s)", X509_verify_cert_error_string(verr), depth,
                 subj);
    rc = WF_EINVAL;
out:
    if (rc == WF_ENOMEM)
        wf_cert_errf(err, errlen, "verification could not run: out of memory");
    ERR_clear_error();
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return rc;
}

int wf_cert_fingerprint(const X509 *cert, char out[WF_CERT_FINGERPRINT_LEN])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (X509_digest(cert, EVP_sha256(), md, &n) != 1 || n != 32) {
        ERR_clear_error();
        out[0] = '\0';
        return WF_EINVAL;
    }
    static const char hex[] = "0123456789ABCDEF";
    char *p = out;
    for (unsigned int i = 0; i < n; i++) {
        if (i > 0)
            *p++ = ':';
        *p++ = hex[md[i] >> 4];
        *p++ = hex[md[i] & 15];
    }
    *p = '\0';
    return 0;
}

int wf_cert_csr_build(EVP_PKEY *key, const char *name, uint8_t **der, size_t *len, char *err,
                      size_t errlen)
{
    *der = NULL;
    *len = 0;
    int rc = WF_EINVAL;
    X509_REQ *req = X509_REQ_new();
    X509_NAME *subj = X509_NAME_new();
    GENERAL_NAMES *sans = GENERAL_NAMES_new();
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_IA5STRING *dns = ASN1_IA5STRING_new();
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    X509_EXTENSION *ext = NULL;
    unsigned char *out = NULL;
    if (req == NULL || subj == NULL || sans == NULL || gn == NULL || dns == NULL || exts == NULL) {
        rc = WF_ENOMEM;
        goto done;
    }
    /* The CN only when it fits (RFC 5280 ub-common-name); the SAN is what
     * identifies the workload. */
    if (strlen(name) <= WF_CERT_CN_MAX &&
        !X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC, (const unsigned char *)name, -1,
                                    -1, 0))
        goto ossl;
    if (!X509_REQ_set_version(req, 0) || !X509_REQ_set_subject_name(req, subj) ||
        !X509_REQ_set_pubkey(req, key))
        goto ossl;
    if (!ASN1_STRING_set(dns, name, (int)strlen(name)))
        goto ossl;
    GENERAL_NAME_set0_value(gn, GEN_DNS, dns);
    dns = NULL;
    if (!sk_GENERAL_NAME_push(sans, gn))
        goto ossl;
    gn = NULL;
    ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, sans);
    if (ext == NULL || !sk_X509_EXTENSION_push(exts, ext))
        goto ossl;
    ext = NULL;
    if (!X509_REQ_add_extensions(req, exts) || !X509_REQ_sign(req, key, EVP_sha256()))
        goto ossl;
    int n = i2d_X509_REQ(req, &out);
    if (n <= 0)
        goto ossl;
    *der = malloc((size_t)n);
    if (*der == NULL) {
        rc = WF_ENOMEM;
        goto done;
    }
    memcpy(*der, out, (size_t)n);
    *len = (size_t)n;
    rc = 0;
    goto done;
ossl:
    wf_cert_errf(err, errlen, "cannot build a CSR for %s: %s", name, wf_cert_ossl_reason());
done:
    OPENSSL_free(out);
    X509_EXTENSION_free(ext);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    ASN1_IA5STRING_free(dns);
    GENERAL_NAME_free(gn);
    GENERAL_NAMES_free(sans);
    X509_NAME_free(subj);
    X509_REQ_free(req);
    return rc;
}

int wf_cert_der_to_pem(const uint8_t *der, size_t len, X509 **cert_out, char **pem, size_t *pemlen,
                       char *err, size_t errlen)
{
    *pem = NULL;
    *pemlen = 0;
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    if (x == NULL || p != der + len) {
        X509_free(x);
        wf_cert_errf(err, errlen, "not a DER certificate%s",
                     x != NULL ? " (trailing bytes)" : "");
        return WF_EINVAL;
    }
    BIO *b = BIO_new(BIO_s_mem());
    if (b == NULL || !PEM_write_bio_X509(b, x)) {
        BIO_free(b);
        X509_free(x);
        return WF_ENOMEM;
    }
    char *data;
    long n = BIO_get_mem_data(b, &data);
    *pem = malloc((size_t)n + 1);
    if (*pem == NULL) {
        BIO_free(b);
        X509_free(x);
        return WF_ENOMEM;
    }
    memcpy(*pem, data, (size_t)n);
    (*pem)[n] = '\0';
    *pemlen = (size_t)n;
    BIO_free(b);
    if (cert_out != NULL)
        *cert_out = x;
    else
        X509_free(x);
    return 0;
}
