/* SPDX-License-Identifier: GPL-2.0 */
/*
 * resin.ko: HardCore, the kernel fast path of resind's web tier.
 *
 * The module listens on one TCP port, reads each HTTP/1.x request header,
 * picks an app-tier server ("srun") and relays the request and its response
 * between the two sockets without a trip through user space. The sruns are
 * set by resind through /proc/net/resin.
 */
#ifndef RESIN_H
#define RESIN_H

#include <linux/types.h>
#include <linux/atomic.h>
#include <linux/net.h>
#include <linux/mutex.h>
#include <linux/list.h>
#include <linux/workqueue.h>

#define RESIN_MAX_SRUN 16
/* A request header larger than this answers 400. */
#define RESIN_REQ_BUF 8192
/* A response header must fit this; the buffer also carries response bodies. */
#define RESIN_RESP_BUF 16384
/* The longest chunk-size or trailer line of a chunked body. */
#define RESIN_MAX_LINE 4096

/* Module parameters (main.c); timeouts in seconds. */
extern int resin_port;
extern int resin_max_conns;
extern int resin_keepalive_timeout;
extern int resin_header_timeout;
extern int resin_socket_timeout;
extern int resin_connect_timeout;
extern int resin_backend_timeout;

/* stopping is set once module unload has begun; nothing new may start. */
extern atomic_t resin_stopping;

/* srun.c: the table of app-tier servers, written through procfs. */
struct srun_addr {
	__be32 ip;
	__be16 port; /* network order */
	int index;   /* the server's index in its cluster: the session owner */
	int slot;    /* position in the table, for the per-srun counters */
};

int srun_get_count(void);
/* srun_show formats slot i as "IP PORT INDEX\n"; returns the length. */
int srun_show(int i, char *buf, size_t len);
int srun_set(int i, const char *line);
int srun_set_count(const char *line);
/*
 * srun_pick chooses a server not in *tried (a bit per slot): the owner of
 * session when there is one and it is listed, else its hashed backup, else
 * the next in round-robin order. It returns false when none is left.
 */
bool srun_pick(const char *session, size_t session_len, u32 *tried, struct srun_addr *out);
void srun_failed(int slot);
void srun_served(int slot);

/* Counters for /proc/net/resin/stats and /caucho-status. */
struct resin_stats {
	atomic64_t connections; /* accepted since load */
	atomic_t active;        /* open client connections */
	atomic64_t refused;     /* closed at once: max_conns reached */
	atomic64_t requests;
	atomic64_t bytes_in;    /* client to srun */
	atomic64_t bytes_out;   /* srun to client */
	atomic64_t unavailable; /* 503s: no srun answered */
	atomic64_t bad;         /* 400s and 408s */
};
extern struct resin_stats resin_stats;
int srun_stats(char *buf, size_t len);

/* proc.c */
int resin_proc_init(void);
void resin_proc_exit(void);

/*
 * stream.c: a socket with a read buffer. Reads wait at most until the
 * deadline set by stream_deadline; sends wait at most socket_timeout.
 */
struct stream {
	struct socket *sock;
	char *buf;
	int cap;
	int start, end; /* buffered, unconsumed bytes are buf[start:end) */
	unsigned long deadline; /* jiffies: every read ends by then; 0 for none */
	unsigned int idle;      /* seconds each read may wait; 0 for none */
	struct socket *watch;   /* a peer whose going away ends a read (-ECONNABORTED) */
	bool eof;
};

void stream_init(struct stream *s, struct socket *sock, char *buf, int cap);
/* stream_deadline bounds all reads from now on together; stream_idle each one. */
void stream_deadline(struct stream *s, unsigned int secs);
void stream_idle(struct stream *s, unsigned int secs);
static inline int stream_avail(const struct stream *s) { return s->end - s->start; }
/* stream_fill reads more bytes; 0 at EOF, <0 on error or timeout (-EAGAIN). */
int stream_fill(struct stream *s);
void stream_compact(struct stream *s);
int stream_send(struct socket *sock, const char *p, size_t len);
/* stream_send_flags is stream_send with MSG_MORE and the like. */
int stream_send_flags(struct socket *sock, const char *p, size_t len, int flags);
/* stream_find_line waits for a "\n" in the buffer; returns its length (with the \n) or <0. */
int stream_find_line(struct stream *s, int max);
/*
 * stream_relay_n copies n bytes of s (buffered first) to dst; counts them
 * in *bytes. Returns 0 or <0.
 */
int stream_relay_n(struct stream *s, struct socket *dst, u64 n, atomic64_t *bytes);
/* stream_relay_chunked copies a chunked body, to the end of its trailers. */
int stream_relay_chunked(struct stream *s, struct socket *dst, atomic64_t *bytes);
/* stream_relay_eof copies everything until s ends. */
int stream_relay_eof(struct stream *s, struct socket *dst, atomic64_t *bytes);

/* http.c */
enum body_kind { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_EOF };

struct http_head {
	int len;          /* bytes of the header, including the final CRLF CRLF */
	int minor;        /* HTTP/1.minor */
	int status;       /* responses */
	bool head;        /* requests: HEAD */
	bool idempotent;  /* requests: GET, HEAD, OPTIONS */
	bool close;       /* Connection: close (or HTTP/1.0 without keep-alive) */
	bool status_page; /* requests: /caucho-status */
	bool expect_continue; /* requests: Expect: 100-continue */
	enum body_kind body;
	u64 length;
	const char *session; /* JSESSIONID, pointing into the header */
	int session_len;
};

/* http_header_end returns the length of the header in p[0:n), 0 if incomplete. */
int http_header_end(const char *p, int n);
int http_parse_request(const char *p, int len, struct http_head *h);
int http_parse_response(const char *p, int len, bool head_request, struct http_head *h);
/* http_date writes an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") and a NUL. */
void http_date(char *buf, size_t len);
bool http_parse_chunk_size(const char *p, int len, u64 *size);

/* pool.c: idle keep-alive connections to the sruns. */
struct socket *pool_take(const struct srun_addr *a);
void pool_put(const struct srun_addr *a, struct socket *sock);
void pool_drain(void);

/* status.c: responses the module writes itself. */
int resin_send_error(struct socket *sock, int code);
int resin_send_status(struct socket *sock, bool head, bool close);

/* conn.c */
int resin_conn_init(void);
void resin_conn_accept(struct socket *sock);
/* resin_conn_exit shuts every connection down and waits for their workers. */
void resin_conn_exit(void);

#endif
