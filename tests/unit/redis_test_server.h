/* redis_test_server.h - a real redis-server for unit tests: started on a free loopback port
 * (and a unix socket) in a temporary directory, stopped and removed at the end, driven
 * with redis-cli. Not having redis-server installed is a failure, never a skip.
 *
 * Include once per test program, after cmocka.h. */
#ifndef REDIS_TEST_SERVER_H
#define REDIS_TEST_SERVER_H

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REDIS_TEST_MAX_ARGS 24

typedef struct redis_test_server {
    pid_t pid;
    int port;
    char dir[64];                           /* its working directory */
    char sock[128];                         /* its unix socket */
    char password[64];                      /* "" for none; redis-cli uses it */
    const char *extra[REDIS_TEST_MAX_ARGS]; /* more server arguments, NULL-terminated */
} redis_test_server;

static long redis_test_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void redis_test_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* A loopback port nobody listens on right now. */
static int redis_test_free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* 1 when the server answers PING (or refuses it for want of a password). */
static int redis_test_pings(const redis_test_server *s)
{
    struct sockaddr_in a;
    struct timeval tv = {0, 200000};
    char buf[64] = "";
    int fd = socket(AF_INET, SOCK_STREAM, 0), up = 0;
    ssize_t n;

    if (fd < 0)
        return 0;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)s->port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && write(fd, "PING\r\n", 6) == 6 &&
        (n = read(fd, buf, sizeof(buf) - 1)) > 0) {
        buf[n] = '\0';
        up = strncmp(buf, "+PONG", 5) == 0 || strncmp(buf, "-NOAUTH", 7) == 0;
    }
    close(fd);
    return up;
}

/* Starts the server on s->port (a new free one when 0) with s->extra; 0 once it answers
 * PING, -1 when it exited or did not answer within 10 s. */
static int redis_test_launch(redis_test_server *s)
{
    char port[16], log[128];
    const char *argv[16 + REDIS_TEST_MAX_ARGS];
    int argc = 0;
    long give_up;

    if (s->port == 0)
        s->port = redis_test_free_port();
    if (s->port <= 0)
        return -1;
    snprintf(port, sizeof(port), "%d", s->port);
    snprintf(log, sizeof(log), "%s/redis.log", s->dir);
    argv[argc++] = "redis-server";
    argv[argc++] = "--port";
    argv[argc++] = port;
    argv[argc++] = "--bind";
    argv[argc++] = "127.0.0.1";
    argv[argc++] = "--save";
    argv[argc++] = "";
    argv[argc++] = "--appendonly";
    argv[argc++] = "no";
    argv[argc++] = "--dir";
    argv[argc++] = s->dir;
    argv[argc++] = "--unixsocket";
    argv[argc++] = s->sock;
    argv[argc++] = "--enable-debug-command";
    argv[argc++] = "local";
    for (int i = 0; s->extra[i] && i < REDIS_TEST_MAX_ARGS; i++)
        argv[argc++] = s->extra[i];
    argv[argc] = NULL;

    s->pid = fork();
    if (s->pid < 0)
        return -1;
    if (s->pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);

        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a crashed test */
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execvp("redis-server", (char *const *)argv);
        fprintf(stderr, "cannot run redis-server: %s\n", strerror(errno));
        _exit(127);
    }
    give_up = redis_test_now_ms() + 10000;
    while (redis_test_now_ms() < give_up) {
        int status;

        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            fprintf(stderr, "redis-server exited (is it installed?); see %s\n", log);
            s->pid = 0;
            return -1;
        }
        if (redis_test_pings(s))
            return 0;
        redis_test_sleep_ms(20);
    }
    return -1;
}

/* Makes the temporary directory and starts a server; extra lists more arguments (or is
 * NULL). 0 on success. */
static int redis_test_start(redis_test_server *s, const char *const *extra)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->dir, sizeof(s->dir), "/tmp/vgredis.XXXXXX");
    if (!mkdtemp(s->dir))
        return -1;
    snprintf(s->sock, sizeof(s->sock), "%s/redis.sock", s->dir);
    for (int i = 0; extra && extra[i] && i < REDIS_TEST_MAX_ARGS - 1; i++)
        s->extra[i] = extra[i];
    for (int attempt = 0; attempt < 3; attempt++) {
        if (redis_test_launch(s) == 0)
            return 0;
        s->port = 0; /* the port may have been taken meanwhile */
    }
    return -1;
}

/* Kills the server at once (SIGKILL) and reaps it. */
static void redis_test_kill(redis_test_server *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
    }
    s->pid = 0;
}

/* Starts the server again on the same port, with the same arguments. */
static int redis_test_restart(redis_test_server *s)
{
    redis_test_kill(s);
    for (int attempt = 0; attempt < 50; attempt++) {
        if (redis_test_launch(s) == 0)
            return 0;
        redis_test_sleep_ms(100);
    }
    return -1;
}

/* Kills the server and removes its directory. */
static void redis_test_stop(redis_test_server *s)
{
    DIR *d;
    struct dirent *e;
    char path[512];

    redis_test_kill(s);
    if (!s->dir[0])
        return;
    d = opendir(s->dir);
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", s->dir, e->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(s->dir);
    s->dir[0] = '\0';
}

/* Starts redis-cli against the server with argument list ap; its standard output goes to
 * fd out (or nowhere when out < 0). Returns its pid, or -1. */
static pid_t redis_test_cli_spawn(const redis_test_server *s, int out, va_list ap)
{
    const char *argv[40];
    char port[16];
    int argc = 0;
    pid_t pid;

    snprintf(port, sizeof(port), "%d", s->port);
    argv[argc++] = "redis-cli";
    argv[argc++] = "-h";
    argv[argc++] = "127.0.0.1";
    argv[argc++] = "-p";
    argv[argc++] = port;
    if (s->password[0]) {
        argv[argc++] = "--no-auth-warning";
        argv[argc++] = "-a";
        argv[argc++] = s->password;
    }
    while (argc < 39 && (argv[argc] = va_arg(ap, const char *)))
        argc++;
    argv[argc] = NULL;

    pid = fork();
    if (pid != 0)
        return pid;
    if (out < 0)
        out = open("/dev/null", O_WRONLY);
    dup2(out, 1);
    execvp("redis-cli", (char *const *)argv);
    _exit(127);
}

/* Runs redis-cli in the background (for a command that blocks, such as DEBUG SLEEP) with
 * the NULL-terminated arguments; the caller reaps the returned pid. */
static pid_t redis_test_cli_background(const redis_test_server *s, ...)
{
    va_list ap;
    pid_t pid;

    va_start(ap, s);
    pid = redis_test_cli_spawn(s, -1, ap);
    va_end(ap);
    return pid;
}

/* Runs redis-cli against the server with the NULL-terminated arguments and puts its
 * output (trailing newlines removed) in out. Returns redis-cli's exit status, or -1. */
static int redis_test_cli(const redis_test_server *s, char *out, size_t outlen, ...)
{
    char sink[256];
    int pfd[2], status;
    size_t got = 0;
    va_list ap;
    pid_t pid;

    if (pipe(pfd) != 0)
        return -1;
    va_start(ap, outlen);
    pid = redis_test_cli_spawn(s, pfd[1], ap);
    va_end(ap);
    close(pfd[1]);
    for (;;) {
        char *dst = sink;
        size_t room = sizeof(sink);
        ssize_t n;

        if (out && got + 1 < outlen) {
            dst = out + got;
            room = outlen - 1 - got;
        }
        n = read(pfd[0], dst, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (dst != sink)
            got += (size_t)n;
    }
    close(pfd[0]);
    if (out && outlen > 0) {
        out[got] = '\0';
        while (got > 0 && (out[got - 1] == '\n' || out[got - 1] == '\r'))
            out[--got] = '\0';
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

#endif
