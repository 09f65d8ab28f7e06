/*
 * local_sys.c — see local_sys.h.
 */
#include "local_sys.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WF_LM_NETNS_DIR "/run/netns"

double wf_lm_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int wf_lm_run(const char *const *argv, const char *input, char *out, size_t outlen)
{
    int inp[2] = {-1, -1}, outp[2] = {-1, -1};
    if ((input && pipe2(inp, O_CLOEXEC) < 0) || pipe2(outp, O_CLOEXEC) < 0)
        return -errno;
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        dup2(input ? inp[0] : devnull, 0);
        dup2(outp[1], 1);
        dup2(outp[1], 2);
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        execvp(argv[0], (char *const *)argv);
        dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(outp[1]);
    if (input) {
        close(inp[0]);
        size_t len = strlen(input), off = 0;
        /* The helpers we feed (iptables-restore) read all input before
         * writing much, so writing first cannot deadlock on their output. */
        while (off < len) {
            ssize_t n = write(inp[1], input + off, len - off);
            if (n <= 0)
                break;
            off += (size_t)n;
        }
        close(inp[1]);
    }
    size_t got = 0;
    char sink[512];
    for (;;) {
        char *dst = out && got + 1 < outlen ? out + got : sink;
        size_t room = out && got + 1 < outlen ? outlen - got - 1 : sizeof(sink);
        ssize_t n = read(outp[0], dst, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (dst != sink)
            got += (size_t)n;
    }
    close(outp[0]);
    if (out && outlen)
        out[got] = '\0';
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -errno;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 256 + WTERMSIG(st);
}

int wf_lm_mkdirs(const char *path, unsigned mode)
{
    char buf[4096];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return -ENAMETOOLONG;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, mode) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static int wf_lm_write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

int wf_lm_write_atomic(const char *path, const char *data, size_t len, unsigned mode)
{
    char tmp[4096];
    const char *slash = strrchr(path, '/');
    int dl = slash ? (int)(slash - path) : 0;
    if (snprintf(tmp, sizeof(tmp), "%.*s%s.%s.tmp", dl, path, slash ? "/" : "",
                 slash ? slash + 1 : path) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -errno;
    int rc = wf_lm_write_all(fd, data, len);
    if (rc == 0 && fchmod(fd, mode) < 0)
        rc = -errno;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0)
        unlink(tmp);
    return rc;
}

int wf_lm_write_inplace(const char *path, const char *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int rc = wf_lm_write_all(fd, data, len);
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    return rc;
}

char *wf_lm_read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            if (cap >= (64u << 20)) {
                free(buf);
                buf = NULL;
                break;
            }
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(buf);
            buf = NULL;
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (buf) {
        buf[n] = '\0';
        if (len)
            *len = n;
    }
    return buf;
}

int wf_lm_rmrf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d == NULL)
            return -errno;
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            char sub[4096];
            if (snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) < (int)sizeof(sub))
                wf_lm_rmrf(sub);
        }
        closedir(d);
        return rmdir(path) < 0 ? -errno : 0;
    }
    return unlink(path) < 0 ? -errno : 0;
}

static int wf_lm_netns_path(const char *name, char *out, size_t outlen)
{
    if (strchr(name, '/') || snprintf(out, outlen, WF_LM_NETNS_DIR "/%s", name) >= (int)outlen)
        return -EINVAL;
    return 0;
}

bool wf_lm_netns_exists(const char *name)
{
    char p[512];
    struct stat st;
    return wf_lm_netns_path(name, p, sizeof(p)) == 0 && stat(p, &st) == 0;
}

int wf_lm_netns_add(const char *name, char *err, size_t errlen)
{
    const char *argv[] = {"ip", "netns", "add", name, NULL};
    int rc = wf_lm_run(argv, NULL, err, errlen);
    return rc == 0 ? 0 : (rc < 0 ? rc : -EIO);
}

int wf_lm_netns_signal(const char *name, int sig)
{
    char p[512];
    struct stat ns, st;
    if (wf_lm_netns_path(name, p, sizeof(p)) < 0 || stat(p, &ns) < 0)
        return 0;
    DIR *d = opendir("/proc");
    if (d == NULL)
        return 0;
    int count = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end != '\0' || pid <= 1)
            continue;
        char q[64];
        snprintf(q, sizeof(q), "/proc/%ld/ns/net", pid);
        if (stat(q, &st) == 0 && st.st_ino == ns.st_ino && st.st_dev == ns.st_dev) {
            if (kill((pid_t)pid, sig) == 0)
                count++;
        }
    }
    closedir(d);
    return count;
}

int wf_lm_netns_del(const char *name)
{
    if (!wf_lm_netns_exists(name))
        return 0;
    for (int i = 0; i < 50 && wf_lm_netns_signal(name, SIGKILL) > 0; i++)
        usleep(20000);
    const char *argv[] = {"ip", "netns", "del", name, NULL};
    char out[256];
    int rc = wf_lm_run(argv, NULL, out, sizeof(out));
    return rc == 0 ? 0 : -EBUSY;
}

/* Joins the named network namespace. */
static int wf_lm_setns_name(const char *name)
{
    char p[512];
    if (wf_lm_netns_path(name, p, sizeof(p)) < 0)
        return -EINVAL;
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = setns(fd, CLONE_NEWNET) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

/* A private mount namespace (changes do not reach the host) with `hosts`
 * bind-mounted over /etc/hosts — what `ip netns exec` does with
 * /etc/netns/<name>/hosts, but with our per-namespace file. */
static int wf_lm_private_hosts(const char *hosts)
{
    if (unshare(CLONE_NEWNS) < 0)
        return -errno;
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
        return -errno;
    if (hosts != NULL && mount(hosts, "/etc/hosts", NULL, MS_BIND, NULL) < 0)
        return -errno;
    return 0;
}

int wf_lm_enter_pod(const char *netns, const char *hosts, char *err, size_t errlen)
{
    int rc = wf_lm_setns_name(netns);
    if (rc < 0) {
        snprintf(err, errlen, "cannot enter network namespace %s: %s", netns, strerror(-rc));
        return rc;
    }
    rc = wf_lm_private_hosts(hosts);
    if (rc < 0)
        snprintf(err, errlen, "cannot set up /etc/hosts (%s): %s", hosts ? hosts : "-",
                 strerror(-rc));
    return rc;
}

pid_t wf_lm_spawn(const wf_lm_spawn_t *s)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid < 0 ? -errno : pid;
    /* Child: everything below either succeeds or ends in _exit(127) with
     * the reason in the log. */
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    signal(SIGPIPE, SIG_DFL);
    if (s->new_session)
        setsid();
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 0);
    if (s->log != NULL) {
        int fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
    }
    const char *step = "setns";
    int rc = s->netns ? wf_lm_setns_name(s->netns) : 0;
    if (rc == 0 && (s->hosts != NULL)) {
        step = "mount /etc/hosts";
        rc = wf_lm_private_hosts(s->hosts);
    }
    if (rc == 0 && s->cgroup != NULL) {
        char p[4096];
        step = "join cgroup";
        snprintf(p, sizeof(p), "%s/cgroup.procs", s->cgroup);
        int fd = open(p, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "0", 1) != 1)
            rc = -errno;
        if (fd >= 0)
            close(fd);
    }
    if (rc == 0) {
        step = "chdir";
        if (chdir(s->workdir ? s->workdir : "/") < 0)
            rc = -errno;
    }
    if (rc == 0 && (s->uid >= 0 || s->gid >= 0)) {
        step = "setuid";
        gid_t g = (gid_t)(s->gid >= 0 ? s->gid : s->uid);
        if (setgroups(0, NULL) < 0 || setresgid(g, g, g) < 0 ||
            (s->uid >= 0 && setresuid((uid_t)s->uid, (uid_t)s->uid, (uid_t)s->uid) < 0))
            rc = -errno;
    }
    if (rc == 0) {
        step = "exec";
        extern char **environ;
        environ = (char **)s->env;
        execvp(s->argv[0], s->argv);
        rc = -errno;
    }
    dprintf(2, "weft: cannot start %s: %s: %s\n", s->argv[0], step, strerror(-rc));
    _exit(127);
}

/* A socket created inside `netns` (the calling thread returns to its own
 * namespace afterwards; the socket stays in the pod's). */
static int wf_lm_socket_in(const char *netns)
{
    int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0)
        return -errno;
    int rc = wf_lm_setns_name(netns);
    int fd = rc == 0 ? socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) : rc;
    if (setns(self, CLONE_NEWNET) < 0) {
        /* Stuck in the pod's namespace would be fatal for the supervisor. */
        perror("weft: cannot return to the host network namespace");
        abort();
    }
    close(self);
    return fd;
}

static int wf_lm_connect(const char *netns, const char *ip, int port, int timeout_ms)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1)
        return -EINVAL;
    int fd = wf_lm_socket_in(netns);
    if (fd < 0)
        return fd;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -errno;
    }
    struct pollfd p = {fd, POLLOUT, 0};
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    if (poll(&p, 1, timeout_ms) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 ||
        soerr != 0) {
        close(fd);
        return -ECONNREFUSED;
    }
    return fd;
}

bool wf_lm_probe_tcp(const char *netns, const char *ip, int port, int timeout_ms)
{
    int fd = wf_lm_connect(netns, ip, port, timeout_ms);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

int wf_lm_probe_http(const char *netns, const char *ip, int port, const char *path, int timeout_ms)
{
    int fd = wf_lm_connect(netns, ip, port, timeout_ms);
    if (fd < 0)
        return -1;
    char req[1024];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: weft-probe\r\n"
                     "Connection: close\r\n\r\n",
                     path, ip, port);
    if (n >= (int)sizeof(req) || send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        close(fd);
        return -1;
    }
    char resp[64];
    size_t got = 0;
    double deadline = wf_lm_now() + timeout_ms / 1000.0;
    while (got < 12) {
        int left = (int)((deadline - wf_lm_now()) * 1000);
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, left) != 1)
            break;
        ssize_t r = recv(fd, resp + got, sizeof(resp) - 1 - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    resp[got] = '\0';
    int status;
    if (got >= 12 && sscanf(resp, "HTTP/1.%*d %d", &status) == 1)
        return status;
    return -1;
}

bool wf_lm_cgroup_v2_usable(void)
{
    char *ctl = wf_lm_read_file("/sys/fs/cgroup/cgroup.subtree_control", NULL);
    bool ok = ctl != NULL && strstr(ctl, "cpu") != NULL && strstr(ctl, "memory") != NULL &&
              access("/sys/fs/cgroup", W_OK) == 0;
    free(ctl);
    return ok;
}

char *wf_lm_http_get(const char *netns, const char *ip, int port, const char *path, int timeout_ms,
                     int *status)
{
    *status = -1;
    int fd = wf_lm_connect(netns, ip, port, timeout_ms);
    if (fd < 0)
        return NULL;
    char req[1024];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: weft\r\n"
                     "Connection: close\r\n\r\n",
                     path, ip, port);
    if (n >= (int)sizeof(req) || send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        close(fd);
        return NULL;
    }
    size_t cap = 65536, got = 0;
    char *buf = malloc(cap);
    double deadline = wf_lm_now() + timeout_ms / 1000.0;
    while (buf != NULL) {
        int left = (int)((deadline - wf_lm_now()) * 1000);
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, left) != 1)
            break;
        if (got + 1 >= cap) {
            char *nb = cap < (16u << 20) ? realloc(buf, cap * 2) : NULL;
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = recv(fd, buf + got, cap - got - 1, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (buf == NULL)
        return NULL;
    buf[got] = '\0';
    char *body = strstr(buf, "\r\n\r\n");
    if (sscanf(buf, "HTTP/1.%*d %d", status) != 1 || body == NULL) {
        free(buf);
        *status = -1;
        return NULL;
    }
    /* Chunked bodies are de-chunked in place (the admin server may use them). */
    body += 4;
    if (strcasestr(buf, "transfer-encoding: chunked") != NULL &&
        strcasestr(buf, "transfer-encoding: chunked") < body) {
        char *in = body, *out = body;
        for (;;) {
            char *end;
            unsigned long len = strtoul(in, &end, 16);
            char *crlf = strstr(in, "\r\n");
            if (crlf == NULL || len == 0 || end == in)
                break;
            in = crlf + 2;
            if ((size_t)(buf + got - in) < len)
                len = (unsigned long)(buf + got - in);
            memmove(out, in, len);
            out += len;
            in += len;
            if (strncmp(in, "\r\n", 2) == 0)
                in += 2;
        }
        *out = '\0';
    }
    memmove(buf, body, strlen(body) + 1);
    return buf;
}
