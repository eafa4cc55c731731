// SPDX-License-Identifier: GPL-2.0
/*
 * Responses the module writes itself: errors (400, 408, 502, 503, each with
 * a Date header, as RFC 9110 asks of an origin with a clock) and the
 * /caucho-status page.
 */
#include <linux/kernel.h>
#include <linux/slab.h>

#include "resin.h"

#define PAGE_MAX 4096

static const char *reason(int code)
{
	switch (code) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 408: return "Request Timeout";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

/* respond sends a whole response; body may be NULL for HEAD. */
static int respond(struct socket *sock, int code, const char *ctype, const char *body, int blen,
		   bool head, bool close)
{
	char date[40], hdr[320];
	int n, err;

	http_date(date, sizeof(date));
	n = scnprintf(hdr, sizeof(hdr),
		      "HTTP/1.1 %d %s\r\nDate: %s\r\nServer: resin.ko\r\nContent-Type: %s\r\n"
		      "Content-Length: %d\r\nCache-Control: no-cache\r\n%s\r\n",
		      code, reason(code), date, ctype, blen, close ? "Connection: close\r\n" : "");
	if (head || !blen)
		return stream_send(sock, hdr, n);
	err = stream_send_flags(sock, hdr, n, MSG_MORE);
	return err ? err : stream_send(sock, body, blen);
}

int resin_send_error(struct socket *sock, int code)
{
	char body[160];
	int n = scnprintf(body, sizeof(body), "<html><head><title>%d %s</title></head><body><h1>%d %s</h1></body></html>\n",
			  code, reason(code), code, reason(code));

	return respond(sock, code, "text/html; charset=utf-8", body, n, false, true);
}

int resin_send_status(struct socket *sock, bool head, bool close)
{
	char *page = kmalloc(PAGE_MAX, GFP_KERNEL);
	int n, err;

	if (!page)
		return -ENOMEM;
	n = scnprintf(page, PAGE_MAX,
		      "<html><head><title>Status : HardCore</title></head><body>\n"
		      "<h1>HardCore: resin.ko on port %d</h1>\n"
		      "<table border=1><tr><th>connections</th><th>active</th><th>requests</th><th>503s</th></tr>\n"
		      "<tr><td>%llu</td><td>%d</td><td>%llu</td><td>%llu</td></tr></table>\n<h2>sruns</h2>\n<pre>\n",
		      resin_port, (unsigned long long)atomic64_read(&resin_stats.connections),
		      atomic_read(&resin_stats.active), (unsigned long long)atomic64_read(&resin_stats.requests),
		      (unsigned long long)atomic64_read(&resin_stats.unavailable));
	n += srun_stats(page + n, PAGE_MAX - n - 32);
	n += scnprintf(page + n, PAGE_MAX - n, "</pre></body></html>\n");
	err = respond(sock, 200, "text/html; charset=utf-8", page, n, head, close);
	kfree(page);
	return err;
}
