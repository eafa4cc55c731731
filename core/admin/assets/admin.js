// resin-admin: refreshes the summary page from /resin-admin/api/status every
// two seconds. All text goes through textContent; nothing is parsed as HTML.
'use strict';

(function () {
  var PERIOD = 2000;
  var prev = null; // the previous sample, for requests/s

  function $(id) { return document.getElementById(id); }

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function setText(id, text) { $(id).textContent = text; }

  function replaceChildren(parent, children) {
    while (parent.firstChild) parent.removeChild(parent.firstChild);
    children.forEach(function (c) { parent.appendChild(c); });
  }

  function duration(seconds) {
    seconds = Math.floor(seconds);
    var d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600),
      m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
    if (d > 0) return d + 'd ' + h + 'h ' + m + 'm';
    if (h > 0) return h + 'h ' + m + 'm ' + s + 's';
    if (m > 0) return m + 'm ' + s + 's';
    return s + 's';
  }

  function when(iso) {
    if (!iso) return 'never';
    return new Date(iso).toLocaleString();
  }

  function bytes(n) {
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(1)) + ' ' + units[i];
  }

  function renderSummary(s) {
    setText('title-server', s.server_id ? '— ' + s.server_id : '');
    document.title = 'resin-admin ' + (s.server_id || '');
    setText('server-id', s.server_id || '(default)');
    setText('cluster-id', s.cluster_id);
    setText('version', s.version);
    setText('pid', s.pid);
    setText('uptime', duration(s.uptime_seconds));
    setText('config-file', s.config_file);

    var r = s.last_reload, lr = $('last-reload');
    if (!r.time) {
      replaceChildren(lr, [el('span', 'none since start', 'muted')]);
    } else {
      replaceChildren(lr, [
        el('span', when(r.time) + ' — '),
        el('span', r.ok ? 'applied' : 'refused', r.ok ? 'ok' : 'bad')
      ]);
    }
    $('reload-error').hidden = !(r.time && !r.ok);
    setText('reload-error-text', r.ok ? '' : (r.error || ''));

    replaceChildren($('listeners'), s.listeners.map(function (l) { return el('li', l); }));
    var dp = s.data_plane;
    setText('data-plane', dp.kind === 'epoll'
      ? 'epoll, ' + dp.loops + (dp.loops === 1 ? ' loop' : ' loops') + ' per listener, GOMAXPROCS ' + dp.gomaxprocs
      : dp.kind + ' per connection, GOMAXPROCS ' + dp.gomaxprocs);

    setText('requests', s.requests);
    setText('errors', s.errors);
    setText('fast-path', s.requests > 0
      ? s.fast_path_requests + ' (' + Math.round(100 * s.fast_path_requests / s.requests) + '%)'
      : s.fast_path_requests);
    if (prev && s.requests >= prev.requests && s.pid === prev.pid) {
      var dt = (Date.parse(s.now) - Date.parse(prev.now)) / 1000;
      if (dt > 0) setText('rate', ((s.requests - prev.requests) / dt).toFixed(1));
    } else {
      setText('rate', '…');
    }

    $('warnings-section').hidden = s.warnings.length === 0;
    replaceChildren($('warnings'), s.warnings.map(function (w) { return el('li', w); }));
  }

  var BACKEND_COLUMNS = ['Server', 'Address', 'State', 'Active', 'Idle', 'Requests',
    'Failures', 'Last failure', 'Latency', 'Weight'];

  function backendRow(b) {
    var tr = el('tr');
    tr.className = b.state === 'down' ? 'down' : '';
    tr.dataset.server = b.id;
    var state = el('td', b.state, 'state state-' + b.state);
    [el('td', b.id), el('td', b.address, 'addr'), state, el('td', b.active), el('td', b.idle),
      el('td', b.requests), el('td', b.failures), el('td', b.last_failure ? when(b.last_failure) : '—', 'when'),
      el('td', b.latency_ms.toFixed(1) + ' ms'), el('td', b.weight)
    ].forEach(function (td) { tr.appendChild(td); });
    return tr;
  }

  function renderBackends(list) {
    $('no-backends').hidden = list.length > 0;
    var groups = [], byTarget = {};
    list.forEach(function (b) {
      if (!Object.prototype.hasOwnProperty.call(byTarget, b.target)) {
        byTarget[b.target] = [];
        groups.push(b.target);
      }
      byTarget[b.target].push(b);
    });
    replaceChildren($('backends'), groups.map(function (target) {
      var sec = el('div', null, 'target');
      var up = byTarget[target].filter(function (b) { return b.state === 'up'; }).length;
      sec.appendChild(el('h3', target + ' — ' + up + ' of ' + byTarget[target].length + ' up'));
      var table = el('table'), head = el('tr'), body = el('tbody');
      BACKEND_COLUMNS.forEach(function (c) { head.appendChild(el('th', c, c === 'Address' ? 'addr' : '')); });
      var thead = el('thead');
      thead.appendChild(head);
      table.appendChild(thead);
      byTarget[target].forEach(function (b) { body.appendChild(backendRow(b)); });
      table.appendChild(body);
      sec.appendChild(table);
      return sec;
    }));
  }

  function renderCluster(c) {
    $('no-cluster').hidden = !!c;
    $('members').hidden = !c;
    if (!c) { $('cluster-summary').textContent = ''; return; }
    $('cluster-summary').textContent = 'Cluster ' + c.cluster + ' — triad ' + c.triad.join(', ') +
      ' — leader ' + (c.leader || 'none') + (c.raft_state ? ' (this server: ' + c.raft_state + ')' : '') +
      (c.signed ? ' — traffic signed' : ' — loopback only (no resin-system-auth-key)');
    replaceChildren($('members').tBodies[0], c.members.map(function (m) {
      var tr = el('tr');
      [el('td', m.id + (m.self ? ' (this server)' : '')), el('td', m.cluster), el('td', m.address, 'addr'),
        el('td', m.triad ? 'yes' : ''), el('td', m.state, 'state state-' + m.state),
        el('td', m.since ? when(m.since) : '—', 'when'),
        el('td', m.last_heartbeat ? when(m.last_heartbeat) : '—', 'when'),
        el('td', m.rtt_ms ? m.rtt_ms.toFixed(1) + ' ms' : '—')
      ].forEach(function (td) { tr.appendChild(td); });
      return tr;
    }));
  }

  function renderHardCore(h) {
    $('hardcore-section').hidden = !h;
    if (!h) return;
    $('hardcore-summary').textContent = 'resin.ko serves port ' + h.port + ' over ' +
      (h.sruns.length ? h.sruns.length + ' srun(s): ' + h.sruns.join(', ') : 'no srun (it answers 503)') +
      ' — ' + h.rewrites + ' rewrite(s) of ' + h.dir + (h.last_error ? ' — error: ' + h.last_error : '');
  }

  function renderCaches(list) {
    $('no-caches').hidden = list.length > 0;
    $('caches').hidden = list.length === 0;
    replaceChildren($('caches').tBodies[0], list.map(function (c) {
      var tr = el('tr');
      [c.cluster, c.entries, bytes(c.bytes), bytes(c.memory_size), (c.hit_ratio * 100).toFixed(1) + ' %',
        c.hits, c.misses, c.stores, c.evictions
      ].forEach(function (v) { tr.appendChild(el('td', v)); });
      return tr;
    }));
  }

  function renderApps(list) {
    list = list || [];
    $('apps-section').hidden = list.length === 0;
    replaceChildren($('apps').tBodies[0], list.map(function (a) {
      var tr = el('tr');
      tr.setAttribute('data-command', a.command);
      var up = a.kind === 'http' ? a.ready : a.processes > 0;
      var state = el('td', up ? 'up' : 'down', 'state state-' + (up ? 'up' : 'down'));
      [el('td', a.kind === 'http' ? 'HTTP' : 'FastCGI'), el('td', a.command), el('td', a.processes),
        el('td', a.kind === 'http' ? '' : a.busy), el('td', a.kind === 'http' ? '' : a.min + '–' + a.max),
        state, el('td', a.address, 'addr'), el('td', a.last_error || '')
      ].forEach(function (td) { tr.appendChild(td); });
      return tr;
    }));
  }

  function refresh() {
    fetch('/resin-admin/api/status', {
      credentials: 'same-origin',
      headers: { 'Accept': 'application/json' },
      cache: 'no-store'
    }).then(function (resp) {
      if (resp.status === 401) {
        window.location.assign('/resin-admin/login');
        throw new Error('logged out');
      }
      if (!resp.ok) throw new Error('HTTP ' + resp.status);
      return resp.json();
    }).then(function (s) {
      renderSummary(s);
      renderCluster(s.cluster);
      renderHardCore(s.hardcore);
      renderBackends(s.backends);
      renderCaches(s.caches);
      renderApps(s.apps);
      prev = s;
      var u = $('updated');
      u.className = 'muted';
      u.textContent = 'updated ' + new Date(s.now).toLocaleTimeString();
    }).catch(function (err) {
      var u = $('updated');
      u.className = 'stale';
      u.textContent = 'not updated: ' + err.message;
    }).then(function () {
      window.setTimeout(refresh, PERIOD);
    });
  }

  document.addEventListener('DOMContentLoaded', refresh);
})();
