/*
 * listener - inet: and unix: listening sockets; see listener.h.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "listener.h"
#include "log.h"

#define LISTEN_BACKLOG	1024

static int open_unix(const char *path)
{
    struct sockaddr_un sun;
    struct stat st;
    int     fd;

    if (*path != '/' || strlen(path) >= sizeof(sun.sun_path)) {
	msg_error("listen: unix socket path must be absolute and shorter than %zu bytes: %s",
		  sizeof(sun.sun_path), path);
	return -1;
    }
    /* Only ever remove an old socket, never a file someone put there. */
    if (lstat(path, &st) == 0) {
	if (!S_ISSOCK(st.st_mode)) {
	    msg_error("listen: %s exists and is not a socket", path);
	    return -1;
	}
	unlink(path);
    }
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, path, strlen(path) + 1);
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
	msg_error("listen: socket: %m");
	return -1;
    }
    if (bind(fd, (struct sockaddr *) &sun, sizeof(sun)) < 0) {
	msg_error("listen: bind %s: %m", path);
	close(fd);
	return -1;
    }
    /* smtpd runs as user postfix; the directory (private/) guards access. */
    if (chmod(path, 0666) < 0)
	msg_warn("listen: chmod %s: %m", path);
    return fd;
}

static int open_inet(const char *hostport)
{
    char    host[256];
    const char *port, *end;
    struct addrinfo hints, *res, *ai;
    int     fd = -1, err, one = 1;
    size_t  hlen;

    if (*hostport == '[') {
	if ((end = strchr(hostport, ']')) == NULL || end[1] != ':') {
	    msg_error("listen: bad address: inet:%s", hostport);
	    return -1;
	}
	hostport++;
	port = end + 2;
	hlen = (size_t) (end - hostport);
    } else {
	if ((end = strrchr(hostport, ':')) == NULL) {
	    msg_error("listen: missing port: inet:%s", hostport);
	    return -1;
	}
	port = end + 1;
	hlen = (size_t) (end - hostport);
    }
    if (hlen >= sizeof(host) || *port == '\0') {
	msg_error("listen: bad address: inet:%s", hostport);
	return -1;
    }
    memcpy(host, hostport, hlen);
    host[hlen] = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if ((err = getaddrinfo(*host ? host : NULL, port, &hints, &res)) != 0) {
	msg_error("listen: %s:%s: %s", host, port, gai_strerror(err));
	return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
	    continue;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0)
	    break;
	err = errno;
	close(fd);
	fd = -1;
	errno = err;
    }
    if (fd < 0)
	msg_error("listen: bind %s:%s: %m", host, port);
    freeaddrinfo(res);
    return fd;
}

int     listener_open(const char *spec)
{
    int     fd;

    if (strncmp(spec, "unix:", 5) == 0)
	fd = open_unix(spec + 5);
    else if (strncmp(spec, "inet:", 5) == 0)
	fd = open_inet(spec + 5);
    else if (*spec == '/')
	fd = open_unix(spec);
    else {
	msg_error("listen: expected inet:HOST:PORT or unix:/path, got \"%s\"", spec);
	return -1;
    }
    if (fd >= 0 && listen(fd, LISTEN_BACKLOG) < 0) {
	msg_error("listen: %s: %m", spec);
	close(fd);
	return -1;
    }
    return fd;
}

void    listener_unlink(const char *spec)
{
    if (strncmp(spec, "unix:", 5) == 0)
	unlink(spec + 5);
    else if (*spec == '/')
	unlink(spec);
}
