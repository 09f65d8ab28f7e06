/*
 * spawn.c — run one tool with stdin text and collected outputs (spawn.h).
 *
 * One poll loop feeds stdin and drains stdout and stderr together: writing
 * all input first could deadlock against a tool that fills its output pipe
 * before reading the rest of its input.
 */
#include "spawn.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int64_t wf_init_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wf_init_close(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Reads what is available from *fd into t (or nowhere); closes *fd at EOF
 * or on error. Returns 0 or WF_ENOMEM. */
static int wf_init_drain(int *fd, wf_init_text_t *t)
{
    char buf[16384];
    for (;;) {
        ssize_t n = read(*fd, buf, sizeof(buf));
        if (n > 0) {
            if (t != NULL && wf_init_text_append(t, (wf_str_t){buf, (size_t)n}) < 0)
                return WF_ENOMEM;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        wf_init_close(fd); /* EOF, or an error we cannot do better with */
        return 0;
    }
}

int wf_init_run(char *const argv[], wf_str_t input, wf_init_text_t *out, wf_init_text_t *err,
                int timeout_ms)
{
    int in[2] = {-1, -1}, op[2] = {-1, -1}, ep[2] = {-1, -1};
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(op, O_CLOEXEC) != 0 || pipe2(ep, O_CLOEXEC) != 0) {
        int e = errno;
        for (int i = 0; i < 2; i++) {
            wf_init_close(&in[i]);
            wf_init_close(&op[i]);
            wf_init_close(&ep[i]);
        }
        return -e;
    }

    /* The child gets the pipe ends as 0/1/2; everything else we hold is
     * O_CLOEXEC and vanishes at exec. */
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, op[1], 1);
    posix_spawn_file_actions_adddup2(&fa, ep[1], 2);
    /* weft-init ignores SIGPIPE (see spawn.h); an ignored signal would stay
     * ignored across exec, so give the tool the default back. */
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t def;
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    posix_spawnattr_setsigdefault(&attr, &def);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    wf_init_close(&in[0]);
    wf_init_close(&op[1]);
    wf_init_close(&ep[1]);
    if (rc != 0) {
        wf_init_close(&in[1]);
        wf_init_close(&op[0]);
        wf_init_close(&ep[0]);
        return -rc;
    }

    fcntl(in[1], F_SETFL, O_NONBLOCK);
    fcntl(op[0], F_SETFL, O_NONBLOCK);
    fcntl(ep[0], F_SETFL, O_NONBLOCK);
    size_t sent = 0;
    if (input.len == 0)
        wf_init_close(&in[1]);

    int result = 0;
    int64_t deadline = wf_init_now_ms() + timeout_ms;
    while (op[0] >= 0 || ep[0] >= 0 || in[1] >= 0) {
        struct pollfd pfd[3];
        int *fds[3];
        nfds_t n = 0;
        if (in[1] >= 0) {
            pfd[n] = (struct pollfd){in[1], POLLOUT, 0};
            fds[n++] = &in[1];
        }
        if (op[0] >= 0) {
            pfd[n] = (struct pollfd){op[0], POLLIN, 0};
            fds[n++] = &op[0];
        }
        if (ep[0] >= 0) {
            pfd[n] = (struct pollfd){ep[0], POLLIN, 0};
            fds[n++] = &ep[0];
        }
        int64_t left = deadline - wf_init_now_ms();
        if (left <= 0) {
            result = WF_ETIMEDOUT;
            break;
        }
        int ready = poll(pfd, n, (int)left);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready < 0) {
            result = -errno;
            break;
        }
        for (nfds_t i = 0; i < n && result == 0; i++) {
            if (pfd[i].revents == 0)
                continue;
            if (fds[i] == &in[1]) {
                ssize_t w = write(in[1], input.ptr + sent, input.len - sent);
                if (w > 0)
                    sent += (size_t)w;
                /* EPIPE: the tool quit without reading it all; its exit
                 * status and stderr will say why. */
                if ((w < 0 && errno != EAGAIN && errno != EINTR) || sent == input.len)
                    wf_init_close(&in[1]);
            } else {
                result = wf_init_drain(fds[i], fds[i] == &op[0] ? out : err);
            }
        }
        if (result < 0)
            break;
    }
    wf_init_close(&in[1]);
    wf_init_close(&op[0]);
    wf_init_close(&ep[0]);
    if (result < 0)
        kill(pid, SIGKILL); /* our pid: the child we started and not yet reaped */

    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return result < 0 ? result : -errno;
    }
    if (result < 0)
        return result;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}
