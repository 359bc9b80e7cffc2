/* The probe's endpoint inside a guest: echoes UDP datagrams back to their sender on
 * PORT, and accepts TCP connections on the same port, echoing what they send
 * (or, with -s, sinking it). Small and bounded: MAX_CONNS connections at a time
 * (one more is refused by closing it), one fixed buffer, no allocation; a peer
 * that stops reading is dropped after SEND_TIMEOUT_S.
 *
 *   endpoint [-s] PORT
 *
 * Built static (gcc -static) into the guest's initramfs by ctrl/vm/image.py.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_CONNS 16
#define BUF_SIZE 65536
#define SEND_TIMEOUT_S 5

static unsigned char buf[BUF_SIZE];

static int bound_socket(int type, unsigned short port)
{
    struct sockaddr_in addr;
    int one = 1;
    int fd = socket(AF_INET, type, 0);

    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        close(fd);
        return -1;
    }
    if (type == SOCK_STREAM && listen(fd, MAX_CONNS) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void echo_udp(int fd)
{
    struct sockaddr_in from;
    socklen_t len = sizeof(from);
    ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len);

    if (n >= 0)
        sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, len);
}

/* Writes all of buf[0..n) to fd; 0 on success. The connection is blocking. */
static int write_all(int fd, size_t n)
{
    size_t done = 0;

    while (done < n) {
        ssize_t w = write(fd, buf + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        done += (size_t)w;
    }
    return 0;
}

/* Serves one readable connection; 0 while it stays open. */
static int serve_tcp(int fd, int sink)
{
    ssize_t n = read(fd, buf, sizeof(buf));

    if (n < 0 && errno == EINTR)
        return 0;
    if (n <= 0)
        return -1;
    return sink ? 0 : write_all(fd, (size_t)n);
}

int main(int argc, char **argv)
{
    struct pollfd fds[2 + MAX_CONNS];
    int nconns = 0, sink = 0, i;
    long port;
    char *end;

    if (argc == 3 && strcmp(argv[1], "-s") == 0) {
        sink = 1;
        argv++;
        argc--;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: endpoint [-s] PORT\n");
        return 2;
    }
    port = strtol(argv[1], &end, 10);
    if (*end != '\0' || port < 1 || port > 65535) {
        fprintf(stderr, "endpoint: bad port %s\n", argv[1]);
        return 2;
    }
    fds[0].fd = bound_socket(SOCK_DGRAM, (unsigned short)port);
    fds[1].fd = bound_socket(SOCK_STREAM, (unsigned short)port);
    if (fds[0].fd < 0 || fds[1].fd < 0) {
        perror("endpoint: socket");
        return 1;
    }
    fds[0].events = fds[1].events = POLLIN;
    printf("endpoint: udp+tcp port %ld (%s)\n", port, sink ? "sink" : "echo");
    fflush(stdout);
    for (;;) {
        if (poll(fds, (nfds_t)(2 + nconns), -1) < 0) {
            if (errno == EINTR)
                continue;
            perror("endpoint: poll");
            return 1;
        }
        if (fds[0].revents & POLLIN)
            echo_udp(fds[0].fd);
        if (fds[1].revents & POLLIN) {
            int c = accept(fds[1].fd, NULL, NULL);
            if (c >= 0 && nconns < MAX_CONNS) {
                /* A peer that stops reading cannot stall the others for long. */
                struct timeval t = {SEND_TIMEOUT_S, 0};
                setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &t, sizeof(t));
                fds[2 + nconns].fd = c;
                fds[2 + nconns].events = POLLIN;
                fds[2 + nconns].revents = 0;
                nconns++;
            } else if (c >= 0) {
                close(c);
            }
        }
        for (i = 0; i < nconns; i++) {
            struct pollfd *p = &fds[2 + i];
            if (p->revents == 0 || serve_tcp(p->fd, sink) == 0)
                continue;
            close(p->fd);
            fds[2 + i] = fds[2 + nconns - 1];   /* the last one takes its place */
            nconns--;
            i--;
        }
    }
}
