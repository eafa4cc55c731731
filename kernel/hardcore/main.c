// SPDX-License-Identifier: GPL-2.0
/*
 * Module load and unload, parameters and the listening socket.
 *
 * Lifecycle: init creates /proc/net/resin, the connection workqueue, the
 * listening socket and the accept thread. Unload sets resin_stopping, shuts
 * the listening socket down (which wakes the accept thread), stops the
 * thread, then shuts every open connection down and waits for the workers
 * relaying them (conn.c), so that no code of the module runs afterwards.
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/kthread.h>
#include <linux/delay.h>
#include <linux/in.h>
#include <net/sock.h>
#include <net/net_namespace.h>

#include "resin.h"

int resin_port = 80;
module_param_named(port, resin_port, int, 0444);
MODULE_PARM_DESC(port, "TCP port to listen on (default 80)");

int resin_max_conns = WQ_MAX_ACTIVE;
module_param_named(max_conns, resin_max_conns, int, 0444);
MODULE_PARM_DESC(max_conns, "open client connections at most (up to 512, one worker each); more are closed at once");

int resin_keepalive_timeout = 15;
module_param_named(keepalive_timeout, resin_keepalive_timeout, int, 0444);
MODULE_PARM_DESC(keepalive_timeout, "seconds an idle client connection is kept");

int resin_header_timeout = 10;
module_param_named(header_timeout, resin_header_timeout, int, 0444);
MODULE_PARM_DESC(header_timeout, "seconds a client may take to send a request header (then 408)");

int resin_socket_timeout = 65;
module_param_named(socket_timeout, resin_socket_timeout, int, 0444);
MODULE_PARM_DESC(socket_timeout, "seconds a read or write of a client body may wait");

int resin_connect_timeout = 5;
module_param_named(connect_timeout, resin_connect_timeout, int, 0444);
MODULE_PARM_DESC(connect_timeout, "seconds a connect to an srun may take");

int resin_backend_timeout = 665;
module_param_named(backend_timeout, resin_backend_timeout, int, 0444);
MODULE_PARM_DESC(backend_timeout, "seconds a read from an srun may wait");

atomic_t resin_stopping = ATOMIC_INIT(0);
struct resin_stats resin_stats;

static struct socket *listen_sock;
static struct task_struct *accept_task;

static int accept_loop(void *unused)
{
	while (!kthread_should_stop()) {
		struct socket *c = NULL;
		int err = kernel_accept(listen_sock, &c, 0);

		if (err < 0) {
			/* Shut down by unload, or a transient error (no memory). */
			if (!kthread_should_stop())
				msleep_interruptible(20);
			continue;
		}
		resin_conn_accept(c);
	}
	return 0;
}

static int clamp_params(void)
{
	if (resin_port < 1 || resin_port > 65535) {
		pr_err("resin: port=%d is not a TCP port\n", resin_port);
		return -EINVAL;
	}
	resin_max_conns = clamp(resin_max_conns, 1, WQ_MAX_ACTIVE);
	resin_keepalive_timeout = clamp(resin_keepalive_timeout, 1, 3600);
	resin_header_timeout = clamp(resin_header_timeout, 1, 3600);
	resin_socket_timeout = clamp(resin_socket_timeout, 1, 3600);
	resin_connect_timeout = clamp(resin_connect_timeout, 1, 3600);
	resin_backend_timeout = clamp(resin_backend_timeout, 1, 36000);
	return 0;
}

static int __init resin_init(void)
{
	struct sockaddr_in addr = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_ANY),
	};
	int err;

	err = clamp_params();
	if (err)
		return err;
	addr.sin_port = htons(resin_port);

	err = resin_conn_init();
	if (err)
		return err;
	err = resin_proc_init();
	if (err)
		goto out_conn;

	err = sock_create_kern(&init_net, AF_INET, SOCK_STREAM, IPPROTO_TCP, &listen_sock);
	if (err)
		goto out_proc;
	sock_set_reuseaddr(listen_sock->sk);
	err = kernel_bind(listen_sock, (struct sockaddr *)&addr, sizeof(addr));
	if (err) {
		pr_err("resin: bind port %d: %d\n", resin_port, err);
		goto out_sock;
	}
	err = kernel_listen(listen_sock, 1024);
	if (err)
		goto out_sock;

	accept_task = kthread_run(accept_loop, NULL, "resin-accept");
	if (IS_ERR(accept_task)) {
		err = PTR_ERR(accept_task);
		goto out_sock;
	}
	pr_info("resin: listening on port %d\n", resin_port);
	return 0;

out_sock:
	sock_release(listen_sock);
out_proc:
	resin_proc_exit();
out_conn:
	atomic_set(&resin_stopping, 1);
	resin_conn_exit();
	return err;
}

static void __exit resin_exit(void)
{
	atomic_set(&resin_stopping, 1);
	/* Leaving LISTEN wakes kernel_accept with an error. */
	kernel_sock_shutdown(listen_sock, SHUT_RDWR);
	kthread_stop(accept_task);
	sock_release(listen_sock);
	resin_conn_exit();
	resin_proc_exit();
	pr_info("resin: unloaded\n");
}

module_init(resin_init);
module_exit(resin_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("HardCore: resind's kernel HTTP fast path");
