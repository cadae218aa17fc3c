/*
 * The least a line relay can do on this machine: one thread, epoll, and every read written at once to every
 * other connection with write(). No framing, no queues, no limits (a slow member simply loses bytes).
 * It is not a peer to compare features with but a measuring stick: what the kernel's loopback TCP path costs
 * per send and per receive here, and so what latency any server could reach (docs/benchmarks.md).
 *
 *   cc -O2 -o /tmp/relay bench/ceiling/relay.c && /tmp/relay 9314 &
 *   parley bench fanout 127.0.0.1:9314 --protocol line -n 1000 -p 10 -r 10 -t 6
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_MEMBERS 20000

static int members[MAX_MEMBERS];
static int member_count;

static void drop(int fd)
{
    close(fd);
    for (int i = 0; i < member_count; i++) {
        if (members[i] == fd) {
            members[i] = members[--member_count];
            return;
        }
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: relay PORT (listens on 127.0.0.1)\n");
        return 2;
    }

    int one = 1;
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[1])),
                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (bind(listener, (struct sockaddr *)&address, sizeof address) != 0 || listen(listener, 4096) != 0) {
        perror("relay");
        return 1;
    }

    int poller = epoll_create1(0);
    struct epoll_event event = { .events = EPOLLIN, .data.fd = listener };
    epoll_ctl(poller, EPOLL_CTL_ADD, listener, &event);
    struct epoll_event ready[256];
    static char buffer[65536];
    for (;;) {
        int count = epoll_wait(poller, ready, 256, -1);
        for (int i = 0; i < count; i++) {
            int fd = ready[i].data.fd;
            if (fd == listener) {
                int member = accept4(listener, NULL, NULL, SOCK_NONBLOCK);
                if (member < 0 || member_count == MAX_MEMBERS) {
                    if (member >= 0) close(member);
                    continue;
                }
                setsockopt(member, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                members[member_count++] = member;
                struct epoll_event readable = { .events = EPOLLIN, .data.fd = member };
                epoll_ctl(poller, EPOLL_CTL_ADD, member, &readable);
                continue;
            }

            ssize_t read_count = read(fd, buffer, sizeof buffer);
            if (read_count <= 0) {
                drop(fd);
                continue;
            }
            for (int m = 0; m < member_count; m++) {
                if (members[m] != fd && write(members[m], buffer, read_count) < 0) {
                    /* A full or closed socket: the bytes are lost; a measuring stick does not queue. */
                }
            }
        }
    }
}
