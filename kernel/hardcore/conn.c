// SPDX-License-Identifier: GPL-2.0
/*
 * Client connections. Each accepted connection becomes one work item on an
 * unbound workqueue; its worker reads a request header, picks an srun,
 * relays the request and the response, and loops while both sides keep the
 * connection alive.
 *
 * Lifetime: a connection is on the conns list from accept until its worker
 * has finished with its sockets. Unload shuts down the client socket and
 * the srun socket of every listed connection (under conn->lock, so the srun
 * socket cannot be swapped meanwhile), which ends any wait at once; the
 * workers then unwind and free their connection, and destroy_workqueue
 * waits for the last of them.
 *
 * Memory per connection is fixed: the struct, an 8 KiB request buffer and
 * a 16 KiB response buffer.
 */
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <net/sock.h>
#include <net/net_namespace.h>

#include "resin.h"

struct rconn {
	struct list_head link;
	struct work_struct work;
	struct mutex lock; /* guards backend against unload */
	struct socket *client;
	struct socket *backend;
	struct srun_addr baddr;
	struct stream cs, bs;
	char peer[48]; /* "X-Forwarded-For: a.b.c.d\r\n\r\n" */
	int peer_len;
};

/* Outcomes of one request; the connection stays open only on KEEP. */
enum { KEEP, CLOSE };

static struct workqueue_struct *conn_wq;
static LIST_HEAD(conns);
static DEFINE_MUTEX(conns_lock);

static void set_timeouts(struct socket *sock, int send_secs)
{
	WRITE_ONCE(sock->sk->sk_sndtimeo, (long)send_secs * HZ);
	tcp_sock_set_nodelay(sock->sk);
}

/* detach takes the srun socket away from c; the caller releases or pools it. */
static struct socket *detach(struct rconn *c)
{
	struct socket *b;

	mutex_lock(&c->lock);
	b = c->backend;
	c->backend = NULL;
	mutex_unlock(&c->lock);
	return b;
}

static void drop_backend(struct rconn *c)
{
	struct socket *b = detach(c);

	if (b)
		sock_release(b);
}

/* attach makes b the srun socket of c, unless unload has begun. */
static int attach(struct rconn *c, struct socket *b, const struct srun_addr *a)
{
	mutex_lock(&c->lock);
	if (atomic_read(&resin_stopping)) {
		mutex_unlock(&c->lock);
		sock_release(b);
		return -ESHUTDOWN;
	}
	c->backend = b;
	c->baddr = *a;
	mutex_unlock(&c->lock);
	return 0;
}

static int connect_srun(struct rconn *c, const struct srun_addr *a)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = a->ip, .sin_port = a->port };
	struct socket *b;
	int err;

	err = sock_create_kern(&init_net, AF_INET, SOCK_STREAM, IPPROTO_TCP, &b);
	if (err)
		return err;
	/* A blocking connect waits at most SO_SNDTIMEO. */
	set_timeouts(b, resin_connect_timeout);
	err = attach(c, b, a);
	if (err)
		return err;
	err = kernel_connect(b, (struct sockaddr *)&sin, sizeof(sin), 0);
	if (err) {
		drop_backend(c);
		return err;
	}
	WRITE_ONCE(b->sk->sk_sndtimeo, (long)resin_backend_timeout * HZ);
	return 0;
}

/*
 * read_head waits for a whole header in s; it returns its length, 0 when s
 * ended before any byte, or <0 (-E2BIG: larger than the buffer).
 */
static int read_head(struct stream *s, bool *started)
{
	for (;;) {
		int n = http_header_end(s->buf + s->start, stream_avail(s));

		if (n)
			return n;
		if (stream_avail(s) >= s->cap)
			return -E2BIG;
		n = stream_fill(s);
		if (n == 0)
			return stream_avail(s) ? -EPIPE : 0;
		if (n < 0)
			return n;
		if (started && !*started) {
			*started = true;
			stream_deadline(s, resin_header_timeout);
		}
	}
}

/* send_request sends the header of the request at the front of cs to the srun. */
static int send_request(struct rconn *c, const struct http_head *req)
{
	int err;

	/* Everything but the final CRLF, then X-Forwarded-For and the CRLF. */
	err = stream_send_flags(c->backend, c->cs.buf + c->cs.start, req->len - 2, MSG_MORE);
	if (err)
		return err;
	return stream_send(c->backend, c->peer, c->peer_len);
}

static int relay_body(struct stream *s, struct socket *dst, const struct http_head *h, atomic64_t *bytes)
{
	switch (h->body) {
	case BODY_LENGTH:
		return stream_relay_n(s, dst, h->length, bytes);
	case BODY_CHUNKED:
		return stream_relay_chunked(s, dst, bytes);
	case BODY_EOF:
		return stream_relay_eof(s, dst, bytes);
	default:
		return 0;
	}
}

/*
 * exchange relays one request to the srun a. It returns KEEP or CLOSE once a
 * response began, or <0 when no response came: -ENOTCONN when nothing
 * reached the srun, -EAGAIN when the request may be retried elsewhere, other
 * errors when it may not.
 */
static int exchange(struct rconn *c, const struct srun_addr *a, struct http_head *req, bool fresh)
{
	struct http_head resp;
	bool reused = false, consumed = false;
	int err, n;

	{
		struct socket *b = fresh ? NULL : pool_take(a);

		if (b) {
			err = attach(c, b, a);
			if (err)
				return err;
			reused = true;
		} else {
			err = connect_srun(c, a);
			if (err)
				return -ENOTCONN;
		}
	}
	err = send_request(c, req);
	if (err) {
		drop_backend(c);
		return reused ? -EAGAIN : -ENOTCONN;
	}
	atomic64_add(req->len, &resin_stats.bytes_in);
	if (req->body != BODY_NONE) {
		/*
		 * A client waiting for 100 Continue is told to go on as soon as an
		 * srun has the header (the srun's own 100, if any, follows: a
		 * client ignores extra 1xx responses).
		 */
		if (req->expect_continue && stream_avail(&c->cs) == req->len) {
			static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

			if (stream_send(c->client, cont, sizeof(cont) - 1)) {
				drop_backend(c);
				return CLOSE;
			}
		}
		/* The header is sent; the body follows it in the buffer. */
		c->cs.start += req->len;
		consumed = true;
		stream_idle(&c->cs, resin_socket_timeout);
		err = relay_body(&c->cs, c->backend, req, &resin_stats.bytes_in);
		if (err) {
			drop_backend(c);
			return err == -EPROTO ? -EPROTO : -EIO;
		}
	}

	stream_init(&c->bs, c->backend, c->bs.buf, RESIN_RESP_BUF);
	stream_idle(&c->bs, resin_backend_timeout);
	c->bs.watch = c->client; /* a client that left ends the wait */
	for (;;) {
		n = read_head(&c->bs, NULL);
		if (n <= 0) {
			drop_backend(c);
			if (n == -ECONNABORTED)
				return CLOSE;
			if (n == -E2BIG)
				return -EIO;
			/* No answer: a GET may go elsewhere; a body was used up. */
			return !consumed && (req->idempotent || reused) ? -EAGAIN : -EIO;
		}
		if (http_parse_response(c->bs.buf + c->bs.start, n, req->head, &resp)) {
			drop_backend(c);
			return -EIO;
		}
		if (!consumed) {
			/* A request without body leaves its header until an answer came. */
			c->cs.start += req->len;
			consumed = true;
		}
		if (resp.status >= 200 || resp.status == 101)
			break;
		/* An interim response (100 Continue, 103): pass it on, read on. */
		err = stream_send(c->client, c->bs.buf + c->bs.start, n);
		if (err)
			goto fail_client;
		c->bs.start += n;
	}

	err = stream_send(c->client, c->bs.buf + c->bs.start, n);
	if (err)
		goto fail_client;
	atomic64_add(n, &resin_stats.bytes_out);
	c->bs.start += n;
	if (resp.status == 101) {
		/* Upgrades are not relayed by the module: the client sees the end. */
		drop_backend(c);
		return CLOSE;
	}
	err = relay_body(&c->bs, c->client, &resp, &resin_stats.bytes_out);
	if (err)
		goto fail_client;
	srun_served(a->slot);
	if (resp.body == BODY_EOF || resp.close || req->close || stream_avail(&c->bs)) {
		drop_backend(c);
	} else {
		struct socket *b = detach(c);

		if (b)
			pool_put(a, b);
	}
	return resp.body == BODY_EOF || resp.close || req->close ? CLOSE : KEEP;

fail_client:
	drop_backend(c);
	return CLOSE;
}

/* relay sends the request in cs to an srun and its response to the client. */
static int relay(struct rconn *c, struct http_head *req)
{
	struct srun_addr a;
	u32 tried = 0;
	bool retried = false;

	while (srun_pick(req->session, req->session_len, &tried, &a)) {
		int r = exchange(c, &a, req, false);

		if (r == -EAGAIN && !retried) {
			/* Perhaps a pooled connection the srun had closed: once more afresh. */
			retried = true;
			r = exchange(c, &a, req, true);
		}
		if (r >= 0)
			return r;
		srun_failed(a.slot);
		if (r == -ENOTCONN || r == -EAGAIN)
			continue;
		if (r == -EPROTO) {
			atomic64_inc(&resin_stats.bad);
			resin_send_error(c->client, 400);
		} else {
			resin_send_error(c->client, 502);
		}
		return CLOSE;
	}
	atomic64_inc(&resin_stats.unavailable);
	resin_send_error(c->client, 503);
	return CLOSE;
}

static void serve(struct rconn *c)
{
	for (;;) {
		struct http_head req;
		bool started = false;
		int n;

		/* The buffer's bounds hold whatever the peers sent; never go on if not. */
		if (WARN_ON_ONCE(c->cs.start < 0 || c->cs.start > c->cs.end || c->cs.end > c->cs.cap))
			return;
		/* Blank lines between requests are allowed (RFC 9112 2.2). */
		while (stream_avail(&c->cs) && (c->cs.buf[c->cs.start] == '\r' || c->cs.buf[c->cs.start] == '\n'))
			c->cs.start++;
		stream_compact(&c->cs);
		if (stream_avail(&c->cs)) {
			started = true;
			stream_deadline(&c->cs, resin_header_timeout);
		} else {
			stream_deadline(&c->cs, resin_keepalive_timeout);
		}
		n = read_head(&c->cs, &started);
		if (n == 0 || n == -EPIPE || n == -ESHUTDOWN || (n == -EAGAIN && !started))
			return; /* closed, unloading, or idle too long */
		if (n < 0) {
			atomic64_inc(&resin_stats.bad);
			if (n == -E2BIG)
				resin_send_error(c->client, 400);
			else if (n == -EAGAIN)
				resin_send_error(c->client, 408);
			return;
		}
		if (http_parse_request(c->cs.buf + c->cs.start, n, &req)) {
			atomic64_inc(&resin_stats.bad);
			resin_send_error(c->client, 400);
			return;
		}
		atomic64_inc(&resin_stats.requests);
		if (req.status_page) {
			c->cs.start += n;
			if (req.body != BODY_NONE)
				req.close = true; /* its body is not read */
			if (resin_send_status(c->client, req.head, req.close) || req.close)
				return;
			continue;
		}
		if (relay(c, &req) != KEEP)
			return;
	}
}

static void conn_work(struct work_struct *w)
{
	struct rconn *c = container_of(w, struct rconn, work);

	serve(c);

	mutex_lock(&conns_lock);
	list_del(&c->link);
	mutex_unlock(&conns_lock);
	drop_backend(c);
	sock_release(c->client);
	kfree(c->cs.buf);
	kfree(c->bs.buf);
	kfree(c);
	atomic_dec(&resin_stats.active);
}

void resin_conn_accept(struct socket *sock)
{
	struct sockaddr_in peer;
	struct rconn *c = NULL;
	char *qbuf = NULL, *rbuf = NULL;

	atomic64_inc(&resin_stats.connections);
	if (atomic_inc_return(&resin_stats.active) > resin_max_conns)
		goto refuse;
	c = kzalloc(sizeof(*c), GFP_KERNEL);
	qbuf = kmalloc(RESIN_REQ_BUF, GFP_KERNEL);
	rbuf = kmalloc(RESIN_RESP_BUF, GFP_KERNEL);
	if (!c || !qbuf || !rbuf)
		goto refuse;
	mutex_init(&c->lock);
	INIT_WORK(&c->work, conn_work);
	c->client = sock;
	set_timeouts(sock, resin_socket_timeout);
	stream_init(&c->cs, sock, qbuf, RESIN_REQ_BUF);
	stream_init(&c->bs, NULL, rbuf, RESIN_RESP_BUF);
	if (kernel_getpeername(sock, (struct sockaddr *)&peer) >= 0)
		c->peer_len = scnprintf(c->peer, sizeof(c->peer), "X-Forwarded-For: %pI4\r\n\r\n", &peer.sin_addr);
	else
		c->peer_len = scnprintf(c->peer, sizeof(c->peer), "\r\n");

	mutex_lock(&conns_lock);
	if (atomic_read(&resin_stopping)) {
		mutex_unlock(&conns_lock);
		goto refuse;
	}
	list_add(&c->link, &conns);
	mutex_unlock(&conns_lock);
	queue_work(conn_wq, &c->work);
	return;

refuse:
	atomic64_inc(&resin_stats.refused);
	atomic_dec(&resin_stats.active);
	kfree(c);
	kfree(qbuf);
	kfree(rbuf);
	sock_release(sock);
}

int resin_conn_init(void)
{
	/* One worker per open connection: max_conns of them may block at once. */
	conn_wq = alloc_workqueue("resin", WQ_UNBOUND, resin_max_conns);
	return conn_wq ? 0 : -ENOMEM;
}

void resin_conn_exit(void)
{
	struct rconn *c;

	mutex_lock(&conns_lock);
	list_for_each_entry(c, &conns, link) {
		kernel_sock_shutdown(c->client, SHUT_RDWR);
		mutex_lock(&c->lock);
		if (c->backend)
			kernel_sock_shutdown(c->backend, SHUT_RDWR);
		mutex_unlock(&c->lock);
	}
	mutex_unlock(&conns_lock);
	/* Waits for every worker: each sees its sockets shut and unwinds. */
	destroy_workqueue(conn_wq);
	pool_drain();
}
