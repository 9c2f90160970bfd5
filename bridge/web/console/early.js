// Opens the console's WebSocket while the modules are still loading (a
// classic script, run as soon as it is parsed): with a token in #token=... or
// in sessionStorage the socket's handshake and the bridge's hello overlap the
// module fetches instead of following them. common/conn.js adopts the socket
// (window.hdEarly) and replays the frames that arrived before it did.
(function () {
  try {
    var hash = new URLSearchParams(location.hash.slice(1));
    var token = hash.get('token') || sessionStorage.getItem('hd.console.token');
    if (!token) return;
    var ws = new WebSocket(location.origin.replace(/^http/, 'ws') + '/ws?' + new URLSearchParams({ token: token }));
    var early = { token: token, ws: ws, frames: [], closed: null };
    ws.onmessage = function (e) { early.frames.push(e.data); };
    ws.onclose = function (e) { early.closed = e; };
    window.hdEarly = early;
  } catch (e) { /* the console opens its socket itself */ }
})();
