// A minimal SMTP listener for the browser tests (node:net only, no npm package): it accepts every message
// on 127.0.0.1 and keeps it, so a test can read what Pactum really sends over SMTP (`--smtp-security none`).
// It speaks the greeting, EHLO/HELO, MAIL FROM, RCPT TO, DATA (dot-stuffing undone), RSET, NOOP and QUIT.
import net from 'node:net';

const address = (arg) => {
  const m = /^\s*<([^>]*)>/.exec(arg) || /^\s*(\S+)/.exec(arg);
  return m ? m[1] : '';
};

/**
 * Starts the listener on a free port. Each received message is `{ from, to: [..], data }`, `data` being the
 * message as sent after DATA (CRLF line ends, dot-stuffing undone, decoded as UTF-8).
 */
export async function startSmtp({ hostname = 'smtp.e2e.test' } = {}) {
  const messages = [];
  const waiters = new Set();
  const sockets = new Set();
  const notify = () => {
    for (const w of [...waiters]) if (messages.length >= w.count) w.resolve();
  };

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const reply = (line) => { if (!socket.destroyed) socket.write(`${line}\r\n`); };
    let buffer = '';
    let envelope = { from: null, to: [] };
    let data = null; // lines of the message while inside DATA

    const command = (line) => {
      const [, verb = '', arg = ''] = /^(\S*)\s?(.*)$/.exec(line);
      switch (verb.toUpperCase()) {
        case 'EHLO':
          reply(`250-${hostname} greets ${arg || 'you'}`);
          reply('250-8BITMIME');
          reply('250-SIZE 10485760');
          reply('250 HELP');
          break;
        case 'HELO':
          reply(`250 ${hostname}`);
          break;
        case 'MAIL':
          if (!/^FROM:/i.test(arg)) { reply('501 5.5.4 Syntax: MAIL FROM:<address>'); break; }
          envelope = { from: address(arg.slice(5)), to: [] };
          reply('250 2.1.0 Ok');
          break;
        case 'RCPT':
          if (envelope.from === null) { reply('503 5.5.1 MAIL first'); break; }
          if (!/^TO:/i.test(arg)) { reply('501 5.5.4 Syntax: RCPT TO:<address>'); break; }
          envelope.to.push(address(arg.slice(3)));
          reply('250 2.1.5 Ok');
          break;
        case 'DATA':
          if (envelope.to.length === 0) { reply('503 5.5.1 RCPT first'); break; }
          data = [];
          reply('354 End data with <CR><LF>.<CR><LF>');
          break;
        case 'RSET':
          envelope = { from: null, to: [] };
          reply('250 2.0.0 Ok');
          break;
        case 'NOOP':
          reply('250 2.0.0 Ok');
          break;
        case 'QUIT':
          reply('221 2.0.0 Bye');
          socket.end();
          break;
        default:
          reply('502 5.5.2 Command not recognised');
      }
    };

    const line = (text) => {
      if (data === null) { command(text); return; }
      if (text === '.') {
        // The wire carries bytes; they were kept as latin1 so that no UTF-8 sequence is split between chunks.
        const raw = Buffer.from(data.join('\r\n') + '\r\n', 'latin1').toString('utf8');
        messages.push({ from: envelope.from, to: envelope.to, data: raw, at: Date.now() });
        envelope = { from: null, to: [] };
        data = null;
        reply('250 2.0.0 Ok: queued');
        notify();
        return;
      }
      data.push(text.startsWith('.') ? text.slice(1) : text);
    };

    socket.on('data', (chunk) => {
      buffer += chunk.toString('latin1');
      let i;
      while ((i = buffer.indexOf('\n')) >= 0) {
        const text = buffer.slice(0, i).replace(/\r$/, '');
        buffer = buffer.slice(i + 1);
        line(text);
      }
    });
    reply(`220 ${hostname} ESMTP e2e test listener`);
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();

  return {
    host: '127.0.0.1',
    port,
    messages,
    /** Resolves with the messages once at least `count` have arrived; rejects after `timeoutMs`. */
    waitFor(count, timeoutMs = 10_000) {
      if (messages.length >= count) return Promise.resolve(messages.slice());
      return new Promise((resolve, reject) => {
        const w = { count };
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`SMTP: ${messages.length} message(s) within ${timeoutMs} ms, expected ${count}`));
        }, timeoutMs);
        w.resolve = () => { clearTimeout(timer); waiters.delete(w); resolve(messages.slice()); };
        waiters.add(w);
      });
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Splits a message into its header fields (unfolded, names lower-cased, in order) and its body. */
export function parseMessage(data) {
  const end = data.indexOf('\r\n\r\n');
  const head = end < 0 ? data : data.slice(0, end);
  const body = end < 0 ? '' : data.slice(end + 4);
  const headers = [];
  for (const line of head.split('\r\n')) {
    if (/^[ \t]/.test(line) && headers.length) headers[headers.length - 1].value += ` ${line.trim()}`;
    else {
      const i = line.indexOf(':');
      if (i > 0) headers.push({ name: line.slice(0, i).trim().toLowerCase(), value: line.slice(i + 1).trim() });
    }
  }
  return {
    headers,
    /** Every value of a header field, by name (any case). */
    all: (name) => headers.filter((h) => h.name === name.toLowerCase()).map((h) => h.value),
    body,
  };
}

/** Decodes a quoted-printable body: soft line breaks (`=` at a line end) are removed and `=XX` becomes a byte. */
export function decodeQuotedPrintable(text) {
  const bytes = text
    .replace(/=\r?\n/g, '')
    .replace(/=([0-9A-Fa-f]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}
