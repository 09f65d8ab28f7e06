/*
 * local.c — the local object store as a cluster-state source (layout in
 * source.h), watched with inotify.
 *
 * One inotify instance per source. Every directory of interest has a
 * watch: the root (for resource directories appearing), each resource
 * directory (for namespace directories, or the objects of a cluster-scoped
 * resource) and each namespace directory (objects). A new directory is
 * watched first and scanned second, so a file written in between is seen
 * by the scan or by an event (at worst both: applying an object twice is
 * harmless — the cache compares).
 *
 * A file is read when it is renamed into place (IN_MOVED_TO) or closed
 * after writing (IN_CLOSE_WRITE, for writers that do not rename); it is
 * gone on IN_DELETE / IN_MOVED_FROM. A directory that disappears, and an
 * event-queue overflow (IN_Q_OVERFLOW), cause a full rescan of the
 * affected informers, diffed against their caches. An object's change
 * signature is its file's (inode, size, mtime), so a rescan re-reads only
 * files that changed.
 */
#include "k8s/source.h"

#include "core/log.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOCAL_DIR_MASK                                                                             \
    (IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF |      \
     IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK)

typedef struct local_source local_source_t;

/* What one inotify watch descriptor stands for. */
typedef struct local_dir {
    int wd;
    wf_k8s_informer_t *inf; /* borrowed; NULL for the root */
    char *ns;               /* owned; namespace of an object directory, NULL otherwise */
    bool objects;           /* this directory holds object files */
} local_dir_t;

struct local_source {
    wf_k8s_source_t base;
    char *root; /* owned */
    int ifd;    /* owned inotify fd */
    wf_watch_t watch;
    local_dir_t **dirs; /* owned, indexed by wd (sparse) */
    size_t ndirs;
    int root_wd;
};

static local_source_t *local_of(wf_k8s_source_t *src)
{
    return wf_container_of(src, local_source_t, base);
}

static bool is_object_file(const char *name, size_t *base_len)
{
    size_t n = strlen(name);
    if (name[0] == '.' || n <= 5 || strcmp(name + n - 5, ".json") != 0)
        return false;
    *base_len = n - 5;
    return true;
}

static local_dir_t *dir_get(local_source_t *ls, int wd)
{
    return wd >= 0 && (size_t)wd < ls->ndirs ? ls->dirs[wd] : NULL;
}

static void dir_drop(local_source_t *ls, int wd)
{
    local_dir_t *d = dir_get(ls, wd);
    if (d == NULL)
        return;
    ls->dirs[wd] = NULL;
    free(d->ns);
    free(d);
}

/* Watches path for inf (ns: the namespace its files are in). Returns the
 * wd or a negative code. Watching a directory twice returns its wd. */
static int dir_watch(local_source_t *ls, const char *path, wf_k8s_informer_t *inf, const char *ns,
                     bool objects)
{
    int wd = inotify_add_watch(ls->ifd, path, LOCAL_DIR_MASK);
    if (wd < 0)
        return -errno;
    if ((size_t)wd >= ls->ndirs) {
        size_t n = WF_MAX((size_t)wd + 1, ls->ndirs * 2);
        local_dir_t **d = realloc(ls->dirs, n * sizeof(*d));
        if (d == NULL) {
            inotify_rm_watch(ls->ifd, wd);
            return WF_ENOMEM;
        }
        memset(d + ls->ndirs, 0, (n - ls->ndirs) * sizeof(*d));
        ls->dirs = d;
        ls->ndirs = n;
    }
    if (ls->dirs[wd] != NULL)
        return wd;
    local_dir_t *d = calloc(1, sizeof(*d));
    if (d == NULL || (ns != NULL && (d->ns = strdup(ns)) == NULL)) {
        free(d);
        inotify_rm_watch(ls->ifd, wd);
        return WF_ENOMEM;
    }
    d->wd = wd;
    d->inf = inf;
    d->objects = objects;
    ls->dirs[wd] = d;
    return wd;
}

static uint64_t stat_sig(const struct stat *st)
{
    uint64_t h = 1469598103934665603ull;
    uint64_t v[4] = {(uint64_t)st->st_ino, (uint64_t)st->st_size, (uint64_t)st->st_mtim.tv_sec,
                     (uint64_t)st->st_mtim.tv_nsec};
    for (int i = 0; i < 4; i++) {
        h ^= v[i];
        h *= 1099511628211ull;
    }
    return h | 1; /* never 0: 0 means "no signature" */
}

/*
 * Reads one object file (dir/fname, name = fname without ".json") into the
 * informer. A malformed file is logged and skipped; the cached version of
 * the object, if any, stays and counts as seen.
 */
static void load_file(local_source_t *ls, wf_k8s_informer_t *inf, const char *dir,
                      const char *ns, const char *fname, size_t name_len)
{
    char path[PATH_MAX], name[WF_K8S_NAME_MAX + 1], key[2 * WF_K8S_NAME_MAX + 2];
    if (name_len > WF_K8S_NAME_MAX || snprintf(path, sizeof(path), "%s/%s", dir, fname) >=
                                          (int)sizeof(path)) {
        wf_log_warn("store: skipping %s/%s: name too long", dir, fname);
        inf->errors++;
        return;
    }
    memcpy(name, fname, name_len);
    name[name_len] = '\0';
    wf_k8s_obj_key(ns, name, key, sizeof(key));

    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno != ENOENT) /* ENOENT: replaced or deleted since; its event follows */
            wf_log_warn("store: skipping %s: %s", path, strerror(errno));
        wf__k8s_mark(inf, key);
        return;
    }
    struct stat st;
    char err[256];
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return;
    }
    uint64_t sig = stat_sig(&st);
    wf_k8s_obj_t *cached = wf_hmap_get(&inf->cache, wf_str_from(key));
    if (cached != NULL && cached->sig == sig) {
        close(fd);
        cached->seen = inf->gen;
        return;
    }
    if ((uint64_t)st.st_size > WF_K8S_OBJ_MAX_BYTES) {
        close(fd);
        wf_log_warn("store: skipping %s: larger than %u bytes", path, WF_K8S_OBJ_MAX_BYTES);
        inf->errors++;
        wf__k8s_mark(inf, key);
        return;
    }
    size_t size = (size_t)st.st_size;
    char *buf = malloc(size ? size : 1);
    ssize_t got = buf != NULL ? read(fd, buf, size) : -1;
    close(fd);
    wf_k8s_obj_t *obj = NULL;
    int rc = WF_EINVAL;
    if (got != (ssize_t)size)
        snprintf(err, sizeof(err), "short read");
    else
        rc = wf_k8s_obj_parse(inf->res, buf, size, inf->res->namespaced ? ns : NULL, &obj, err,
                              sizeof(err));
    free(buf);
    if (rc == 0 && strcmp(obj->name, name) != 0) {
        snprintf(err, sizeof(err), "metadata.name \"%.64s\" does not match the file name",
                 obj->name);
        wf_k8s_obj_unref(obj);
        rc = WF_EINVAL;
    }
    if (rc != 0) {
        inf->errors++;
        wf_log_warn("store: skipping %s: %s", path, err);
        wf__k8s_mark(inf, key);
        return;
    }
    obj->sig = sig;
    wf__k8s_apply(inf, obj);
}

/* Scans an object directory: every object file into the cache. */
static void scan_objects(local_source_t *ls, wf_k8s_informer_t *inf, const char *dir,
                         const char *ns)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t bl;
        if (is_object_file(e->d_name, &bl))
            load_file(ls, inf, dir, ns, e->d_name, bl);
    }
    closedir(d);
}

/* Watches and scans a namespace directory of a namespaced resource. */
static void add_ns_dir(local_source_t *ls, wf_k8s_informer_t *inf, const char *resdir,
                       const char *ns)
{
    char path[PATH_MAX];
    if (ns[0] == '.' || !wf_k8s_name_valid(ns) || strchr(ns, '.') != NULL)
        return;
    if (snprintf(path, sizeof(path), "%s/%s", resdir, ns) >= (int)sizeof(path))
        return;
    int rc = dir_watch(ls, path, inf, ns, true);
    if (rc < 0) {
        if (rc != -ENOENT && rc != -ENOTDIR)
            wf_log_warn("store: cannot watch %s: %s", path, wf_strerror(rc));
        return;
    }
    scan_objects(ls, inf, path, ns);
}

/* Watches and scans inf's resource directory (and below). */
static void scan_resource(local_source_t *ls, wf_k8s_informer_t *inf)
{
    char dn[256], path[PATH_MAX];
    wf_k8s_resource_dir(inf->res, dn, sizeof(dn));
    if (snprintf(path, sizeof(path), "%s/%s", ls->root, dn) >= (int)sizeof(path))
        return;
    int rc = dir_watch(ls, path, inf, NULL, !inf->res->namespaced);
    if (rc < 0) {
        if (rc != -ENOENT && rc != -ENOTDIR)
            wf_log_warn("store: cannot watch %s: %s", path, wf_strerror(rc));
        return; /* not there yet: the root's watch tells when it appears */
    }
    if (!inf->res->namespaced) {
        scan_objects(ls, inf, path, NULL);
        return;
    }
    DIR *d = opendir(path);
    if (d == NULL)
        return;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (e->d_type == DT_DIR || e->d_type == DT_UNKNOWN)
            add_ns_dir(ls, inf, path, e->d_name);
    closedir(d);
}

static void rescan(local_source_t *ls, wf_k8s_informer_t *inf)
{
    wf__k8s_resync_begin(inf);
    scan_resource(ls, inf);
    wf__k8s_resync_end(inf);
}

static void rescan_all(local_source_t *ls)
{
    for (wf_k8s_informer_t *inf = ls->base.infs; inf != NULL; inf = inf->next)
        rescan(ls, inf);
}

static void handle_event(local_source_t *ls, const struct inotify_event *ev)
{
    if (ev->mask & IN_Q_OVERFLOW) {
        wf_log_warn("store: inotify queue overflowed; rescanning %s", ls->root);
        rescan_all(ls);
        return;
    }
    local_dir_t *d = dir_get(ls, ev->wd);
    if (ev->mask & IN_IGNORED) {
        dir_drop(ls, ev->wd);
        return;
    }
    if (d == NULL)
        return;
    if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
        /* Its objects vanish with it (file events may not all come). */
        if (d->inf != NULL)
            rescan(ls, d->inf);
        else
            rescan_all(ls);
        return;
    }
    const char *name = ev->len > 0 ? ev->name : "";
    if (name[0] == '\0' || name[0] == '.')
        return;
    bool isdir = (ev->mask & IN_ISDIR) != 0;
    char dirpath[PATH_MAX];

    if (d->inf == NULL) { /* the root: a resource directory came or went */
        for (wf_k8s_informer_t *inf = ls->base.infs; inf != NULL; inf = inf->next) {
            char dn[256];
            wf_k8s_resource_dir(inf->res, dn, sizeof(dn));
            if (strcmp(dn, name) == 0 && isdir)
                rescan(ls, inf);
        }
        return;
    }
    wf_k8s_informer_t *inf = d->inf;
    char dn[256];
    wf_k8s_resource_dir(inf->res, dn, sizeof(dn));
    if (d->ns != NULL)
        snprintf(dirpath, sizeof(dirpath), "%s/%s/%s", ls->root, dn, d->ns);
    else
        snprintf(dirpath, sizeof(dirpath), "%s/%s", ls->root, dn);

    if (isdir) {
        if (d->objects)
            return; /* no directories below object directories */
        if (ev->mask & (IN_CREATE | IN_MOVED_TO))
            add_ns_dir(ls, inf, dirpath, name);
        else if (ev->mask & IN_MOVED_FROM)
            rescan(ls, inf); /* a namespace directory moved away with its files */
        return;
    }
    size_t bl;
    if (!d->objects || !is_object_file(name, &bl))
        return;
    if (ev->mask & (IN_MOVED_TO | IN_CLOSE_WRITE)) {
        load_file(ls, inf, dirpath, d->ns, name, bl);
    } else if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
        char obj_name[WF_K8S_NAME_MAX + 1], key[2 * WF_K8S_NAME_MAX + 2];
        if (bl > WF_K8S_NAME_MAX)
            return;
        memcpy(obj_name, name, bl);
        obj_name[bl] = '\0';
        wf_k8s_obj_key(d->ns, obj_name, key, sizeof(key));
        wf__k8s_remove(inf, key);
    }
}

static void inotify_cb(wf_loop_t *loop, wf_watch_t *w, uint32_t events)
{
    local_source_t *ls = wf_container_of(w, local_source_t, watch);
    char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        ssize_t n = read(ls->ifd, buf, sizeof(buf));
        if (n <= 0)
            return; /* EAGAIN (edge-triggered: drained) or an error */
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            handle_event(ls, ev);
            p += sizeof(*ev) + ev->len;
        }
    }
}

/* Per-informer state: the timer that runs the initial list from the loop
 * (never from inside wf_k8s_watch, so the caller has its informer pointer
 * before the first callback). */
typedef struct local_inf {
    wf_timer_t start_timer;
    local_source_t *ls;     /* borrowed */
    wf_k8s_informer_t *inf; /* borrowed: owner */
} local_inf_t;

static void start_timer_cb(wf_loop_t *loop, wf_timer_t *t)
{
    local_inf_t *li = wf_container_of(t, local_inf_t, start_timer);
    rescan(li->ls, li->inf); /* the initial list, then on_synced */
}

static int local_start(wf_k8s_source_t *src, wf_k8s_informer_t *inf)
{
    local_inf_t *li = calloc(1, sizeof(*li));
    if (li == NULL)
        return WF_ENOMEM;
    li->ls = local_of(src);
    li->inf = inf;
    wf_timer_init(&li->start_timer, start_timer_cb);
    inf->impl = li;
    return wf_timer_start(src->loop, &li->start_timer, 0);
}

static void local_stop(wf_k8s_source_t *src, wf_k8s_informer_t *inf)
{
    local_source_t *ls = local_of(src);
    local_inf_t *li = inf->impl;
    if (li != NULL) {
        wf_timer_stop(src->loop, &li->start_timer);
        free(li);
        inf->impl = NULL;
    }
    for (size_t i = 0; i < ls->ndirs; i++)
        if (ls->dirs[i] != NULL && ls->dirs[i]->inf == inf) {
            inotify_rm_watch(ls->ifd, (int)i);
            dir_drop(ls, (int)i);
        }
}

static void local_destroy(wf_k8s_source_t *src)
{
    local_source_t *ls = local_of(src);
    for (size_t i = 0; i < ls->ndirs; i++)
        dir_drop(ls, (int)i);
    free(ls->dirs);
    if (ls->ifd >= 0) {
        wf_watch_stop(src->loop, &ls->watch);
        close(ls->ifd);
    }
    free(ls->root);
    free(ls);
}

static const wf_k8s_source_ops_t local_ops = {"local", local_start, local_stop, local_destroy};

wf_k8s_source_t *wf_k8s_local_new(wf_loop_t *loop, const char *root, char *err, size_t errlen)
{
    if (mkdir(root, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create the store directory %s: %s", root, strerror(errno));
        return NULL;
    }
    local_source_t *ls = calloc(1, sizeof(*ls));
    if (ls == NULL || (ls->root = strdup(root)) == NULL) {
        free(ls);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ls->base.ops = &local_ops;
    ls->base.loop = loop;
    ls->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    int rc;
    if (ls->ifd < 0) {
        snprintf(err, errlen, "inotify_init1: %s", strerror(errno));
        goto fail;
    }
    if ((rc = dir_watch(ls, root, NULL, NULL, false)) < 0) {
        snprintf(err, errlen, "cannot watch the store directory %s: %s", root, wf_strerror(rc));
        goto fail;
    }
    ls->root_wd = rc;
    wf_watch_init(&ls->watch, ls->ifd, inotify_cb);
    if ((rc = wf_watch_start(loop, &ls->watch, EPOLLIN)) != 0) {
        snprintf(err, errlen, "cannot watch inotify: %s", wf_strerror(rc));
        close(ls->ifd);
        ls->ifd = -1;
        goto fail;
    }
    return &ls->base;
fail:
    if (ls->ifd >= 0) {
        close(ls->ifd);
        ls->ifd = -1;
    }
    local_destroy(&ls->base);
    return NULL;
}
