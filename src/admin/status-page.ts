/**
 * The admin status page as one self-contained HTML document (inline CSS and script, nothing
 * fetched from elsewhere), rendered on the server from a StatusSnapshot so that it reads the same
 * without JavaScript. With JavaScript it fetches itself again every REFRESH_MS and swaps in the new
 * <main>. Every value from the snapshot is escaped.
 */
import type { StatusSnapshot } from './status.js'

export const REFRESH_MS = 5000

/** Errors shown on the page (/status.json has every kept line). */
const ERRORS_SHOWN = 12

/** The Content-Security-Policy of the page: its own inline style and script, requests to its own origin only. */
export const STATUS_PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'"

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

const NONE = '—'

/** "3d 4h", "4h 5m", "5m 6s", "6s". */
export function formatUptime(seconds: number): string {
  const d = Math.floor(seconds / 86400)
  const h = Math.floor((seconds % 86400) / 3600)
  const m = Math.floor((seconds % 3600) / 60)
  const s = seconds % 60
  if (d > 0) return `${d}d ${h}h`
  if (h > 0) return `${h}h ${m}m`
  if (m > 0) return `${m}m ${s}s`
  return `${s}s`
}

function figure(id: string, label: string, value: number | null, note: string): string {
  return `<section class="fig" id="${id}"><div class="label">${escapeHtml(label)}</div><div class="value">${value === null ? NONE : value}</div><div class="note">${escapeHtml(note)}</div></section>`
}

function connectionsTable(c: NonNullable<StatusSnapshot['connections']>): string {
  const rows = c.byTransport
    .map((r) => `<tr class="${r.count > 0 ? 'live' : 'idle'}" data-transport="${escapeHtml(r.transport)}"><th>${escapeHtml(r.transport)}</th><td>${r.count}</td></tr>`)
    .join('')
  return `<table id="transports"><caption>Connections by transport</caption><tbody>${rows}</tbody></table><p class="small">HTTP requests held open: ${c.httpRequestsHeld}</p>`
}

function nodesTable(s: StatusSnapshot): string {
  const rows = s.nodes
    .map(
      (n) =>
        `<tr${n.self ? ' class="self"' : ''}><th>${escapeHtml(n.id)}${n.self ? ' (this)' : ''}</th><td>${escapeHtml(n.role)}</td><td>${escapeHtml(n.address)}</td><td>${escapeHtml(n.startedAt.slice(0, 19).replace('T', ' '))}</td></tr>`,
    )
    .join('')
  const etcd = s.etcdReachable === null ? '' : `<p class="small">etcd: ${s.etcdReachable ? 'reachable' : 'UNREACHABLE (last known membership)'}</p>`
  return `<table id="nodes"><caption>Nodes</caption><thead><tr><th>id</th><td>role</td><td>address</td><td>started (UTC)</td></tr></thead><tbody>${rows}</tbody></table>${etcd}`
}

function errorsList(s: StatusSnapshot): string {
  if (s.recentErrors.length === 0) return '<p id="errors" class="calm">No warnings or errors logged.</p>'
  const items = s.recentErrors
    .slice(0, ERRORS_SHOWN)
    .map(
      (e) =>
        `<li class="${escapeHtml(e.level)}"><span class="time">${escapeHtml(e.time.slice(11, 19))}</span> <span class="level">${escapeHtml(e.level.toUpperCase())}</span> <span class="msg">${escapeHtml(e.msg)}</span> <span class="detail">${escapeHtml(e.detail)}</span></li>`,
    )
    .join('')
  const more = s.recentErrors.length > ERRORS_SHOWN ? `<p class="small">${s.recentErrors.length - ERRORS_SHOWN} older in /status.json</p>` : ''
  return `<ol id="errors">${items}</ol>${more}`
}

/** The <main> element: everything that changes between refreshes. */
function main(s: StatusSnapshot): string {
  const c = s.connections
  const keysNote = s.authKeys.loaded !== null ? 'loaded in memory' : 'created since start'
  return `<main id="status" data-now="${escapeHtml(s.now)}">
<header><h1>mtgate ${escapeHtml(s.role)} ${escapeHtml(s.node)}</h1><p class="small">version ${escapeHtml(s.version)} · up ${escapeHtml(formatUptime(s.uptimeSeconds))} · ${escapeHtml(s.host)} pid ${s.pid} · ${escapeHtml(s.now.slice(0, 19).replace('T', ' '))} UTC</p></header>
<div class="figs">
${figure('connections', 'Connections', c === null ? null : c.total, c === null ? 'no listeners on this node' : 'open now')}
${figure('sessions', 'Sessions', s.sessions, s.sessions === null ? 'on the session nodes' : 'in memory')}
${figure('keys', 'Auth keys', s.authKeys.loaded ?? s.authKeys.createdSinceStart, keysNote)}
${figure('node-count', 'Nodes', s.nodes.length, s.etcdReachable === null ? 'this process' : 'in etcd')}
${figure('error-count', 'Errors', s.recentErrors.length, 'recent warn / error lines')}
</div>
<div class="cols">
<div>${c === null ? '<p class="small">No client connections: this node has no listeners.</p>' : connectionsTable(c)}</div>
<div>${nodesTable(s)}</div>
</div>
<h2>Recent errors</h2>
${errorsList(s)}
</main>`
}

const STYLE = `
body{margin:0;background:#fff;color:#111;font:22px/1.35 "DejaVu Sans",Arial,sans-serif}
main{padding:20px 28px}
h1{font-size:34px;margin:0}
h2{font-size:30px;margin:22px 0 8px}
.small{font-size:20px;color:#333;margin:4px 0}
.figs{display:flex;gap:16px;margin:18px 0}
.fig{flex:1;border-radius:10px;padding:8px 16px;background:#e8eef4}
.fig .label{font-size:24px;font-weight:bold}
.fig .value{font-size:72px;font-weight:bold;line-height:1.1}
.fig .note{font-size:18px;color:#333}
.cols{display:flex;gap:28px}
.cols>div{flex:1}
table{border-collapse:collapse;width:100%}
caption{text-align:left;font-size:26px;font-weight:bold;margin-bottom:4px}
th,td{text-align:left;padding:3px 10px;border-bottom:1px solid #999}
#transports tbody{display:grid;grid-template-columns:1fr 1fr;column-gap:24px}
#transports tr{display:flex;justify-content:space-between}
#transports th,#transports td{border:0}
#transports tr{border-bottom:1px solid #999}
#transports td{font-weight:bold;font-size:26px}
tr.idle th{color:#444;font-weight:normal}
tr.self th{text-decoration:underline}
#errors{margin:0;padding-left:0;list-style:none}
#errors li{padding:4px 0;border-bottom:1px solid #999}
#errors .level{font-weight:bold}
#errors li.error .level,#errors li.fatal .level{color:#a00}
#errors .detail{color:#333;font-size:18px;overflow-wrap:anywhere}
.calm{color:#060}
`

/** Fetches the page again and swaps in its <main>; keeps the old one when the fetch fails. */
const SCRIPT = `
setInterval(function () {
  fetch(location.pathname, { cache: 'no-store' }).then(function (r) { return r.ok ? r.text() : null }).then(function (html) {
    if (html === null) return
    var next = new DOMParser().parseFromString(html, 'text/html').getElementById('status')
    var cur = document.getElementById('status')
    if (next && cur) cur.replaceWith(next)
  }).catch(function () {})
}, ${REFRESH_MS})
`

export function renderStatusPage(s: StatusSnapshot): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>mtgate ${escapeHtml(s.role)} ${escapeHtml(s.node)}: status</title>
<style>${STYLE}</style></head>
<body>
${main(s)}
<script>${SCRIPT}</script>
</body></html>
`
}
