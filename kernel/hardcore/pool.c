// SPDX-License-Identifier: GPL-2.0
/*
 * Idle keep-alive connections to the sruns, shared by every client
 * connection: a request takes one for its srun (or connects), and gives it
 * back when the response ended cleanly. A pooled connection is dropped when
 * it is older than idle_time, when its srun slot now names another address,
 * or when the srun closed it meanwhile.
 */
#include <linux/kernel.h>
#include <linux/spinlock.h>
#include <linux/jiffies.h>
#include <net/sock.h>
#include <net/tcp_states.h>

#include "resin.h"

#define POOL_PER_SRUN 32
/* A srun's own keep-alive timeout is longer (resind: 15 s); leave first. */
#define POOL_IDLE (4 * HZ)

struct pooled {
	struct socket *sock;
	__be32 ip;
	__be16 port;
	unsigned long since;
};

static DEFINE_SPINLOCK(pool_lock);
static struct pooled pool[RESIN_MAX_SRUN][POOL_PER_SRUN];
static int pool_len[RESIN_MAX_SRUN];

static bool alive(struct socket *sock)
{
	struct sock *sk = sock->sk;

	return READ_ONCE(sk->sk_state) == TCP_ESTABLISHED && !(READ_ONCE(sk->sk_shutdown) & RCV_SHUTDOWN) &&
	       skb_queue_empty_lockless(&sk->sk_receive_queue) && !READ_ONCE(sk->sk_err);
}

struct socket *pool_take(const struct srun_addr *a)
{
	struct socket *drop[POOL_PER_SRUN], *got = NULL;
	int ndrop = 0, i;

	if (a->slot < 0 || a->slot >= RESIN_MAX_SRUN)
		return NULL;
	spin_lock(&pool_lock);
	while (pool_len[a->slot] > 0) {
		struct pooled *p = &pool[a->slot][--pool_len[a->slot]];

		if (p->ip == a->ip && p->port == a->port && time_before(jiffies, p->since + POOL_IDLE) &&
		    alive(p->sock)) {
			got = p->sock;
			break;
		}
		drop[ndrop++] = p->sock;
	}
	spin_unlock(&pool_lock);
	for (i = 0; i < ndrop; i++)
		sock_release(drop[i]);
	return got;
}

void pool_put(const struct srun_addr *a, struct socket *sock)
{
	if (a->slot >= 0 && a->slot < RESIN_MAX_SRUN && !atomic_read(&resin_stopping) && alive(sock)) {
		spin_lock(&pool_lock);
		if (pool_len[a->slot] < POOL_PER_SRUN) {
			struct pooled *p = &pool[a->slot][pool_len[a->slot]++];

			p->sock = sock;
			p->ip = a->ip;
			p->port = a->port;
			p->since = jiffies;
			sock = NULL;
		}
		spin_unlock(&pool_lock);
	}
	if (sock)
		sock_release(sock);
}

/* pool_drain releases every pooled connection, once no worker runs. */
void pool_drain(void)
{
	int s, i;

	for (s = 0; s < RESIN_MAX_SRUN; s++) {
		for (i = 0; i < pool_len[s]; i++)
			sock_release(pool[s][i].sock);
		pool_len[s] = 0;
	}
}
