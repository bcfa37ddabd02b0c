/// <reference lib="dom" />
import {
  type MessageMeta,
  type Outgoing,
  type PresenceEvent,
  RoomcastClient,
} from '../../client/src/index.js';

// The demo chat: every line of it runs on the public API of @roomcast/client.
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const names = /^[A-Za-z0-9_.-]{1,32}$/;

interface Line {
  from: string;
  text: string;
  key?: string;
  state?: Outgoing['state'];
  error?: string;
}

const lines = new Map<string, Line[]>();
let current = '';
let client: RoomcastClient | undefined;

function render(): void {
  const list = $<HTMLUListElement>('messages');
  list.replaceChildren(
    ...(lines.get(current) ?? []).map((line) => {
      const li = document.createElement('li');
      const from = document.createElement('span');
      from.className = 'from';
      from.textContent = line.from;
      li.append(from, document.createTextNode(line.text));
      if (line.state) {
        li.dataset.state = line.state;
        const state = document.createElement('span');
        state.className = 'state';
        state.textContent = line.error ? `${line.state}: ${line.error}` : line.state;
        li.append(state);
      }
      return li;
    }),
  );
  list.scrollTop = list.scrollHeight;
}

function add(room: string, line: Line): void {
  const list = lines.get(room) ?? [];
  list.push(line);
  lines.set(room, list);
  if (room === current) render();
}

/** Who is in each room: read with `room.presence()`, then kept by the presence frames of `presence-` rooms. */
const members = new Map<string, Set<string>>();

function renderMembers(): void {
  $('members').replaceChildren(
    ...[...(members.get(current) ?? [])]
      .sort()
      .map((user) => Object.assign(document.createElement('li'), { textContent: user })),
  );
}

async function refreshMembers(): Promise<void> {
  if (!current || !client) return;
  const room = current;
  try {
    const { users } = await client.room(room).presence();
    members.set(room, new Set(users.map((u) => u.userId)));
  } catch {
    return; // shown again on the next connection or room change
  }
  if (room === current) renderMembers();
}

async function start(name: string, roomNames: string[]): Promise<void> {
  const me = new RoomcastClient({
    url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`,
    // Asked again before every connection attempt, so an expired token is never reused.
    token: async () => {
      const res = await fetch(`/demo/token?user=${encodeURIComponent(name)}`);
      if (!res.ok) throw new Error(`token: HTTP ${res.status}`);
      return ((await res.json()) as { token: string }).token;
    },
  });
  client = me;
  (window as unknown as { roomcast: RoomcastClient }).roomcast = me;
  me.on('state', (state) => {
    $('status').textContent = `${name} · ${state}`;
    $('banner').classList.toggle('shown', state === 'reconnecting');
    if (state === 'open') void refreshMembers();
  });
  me.on('outgoing', (outgoing) => {
    if (outgoing.action !== 'send' || outgoing.event !== 'chat' || !outgoing.room) return;
    const list = lines.get(outgoing.room) ?? [];
    const line = list.find((l) => l.key === outgoing.key);
    if (line) {
      line.state = outgoing.state;
      if (outgoing.error) line.error = outgoing.error.code;
    } else {
      add(outgoing.room, {
        from: name,
        text: String((outgoing.data as { text?: unknown }).text ?? ''),
        key: outgoing.key,
        state: outgoing.state,
      });
    }
    if (outgoing.room === current) render();
  });
  // Problems the SDK reports outside a request (a room it could not rejoin, storage refused).
  me.on('error', (error: { code?: string; message?: string }) => {
    $('status').textContent = `${name}: ${error.code ?? 'ERROR'}: ${error.message ?? ''}`;
  });
  try {
    await joinAll(me, roomNames);
  } catch (error) {
    // A refused join (a private room outside the token's claim): nothing of this attempt stays, so
    // the next Join starts clean instead of adding a second client beside this one.
    me.close();
    if (client === me) client = undefined;
    $('room').replaceChildren();
    members.clear();
    lines.clear();
    throw error;
  }
  current = roomNames[0] ?? '';
  render();
  $('chat').classList.add('shown');
  $('join-form').style.display = 'none';
  void refreshMembers();
}

/** Connects and joins every room, in order, wiring each room's handlers. */
async function joinAll(me: RoomcastClient, roomNames: string[]): Promise<void> {
  await me.connect();
  const typing = new Map<string, ReturnType<typeof setTimeout>>();
  for (const roomName of roomNames) {
    const room = me.room(roomName);
    room.on('presence', (change: PresenceEvent) => {
      const users = members.get(roomName) ?? new Set<string>();
      if (change.event === 'join') users.add(change.userId);
      else users.delete(change.userId);
      members.set(roomName, users);
      if (roomName === current) renderMembers();
    });
    room.on('chat', (data: unknown, meta: MessageMeta) => {
      add(roomName, { from: meta.from ?? 'server', text: String((data as { text?: unknown })?.text ?? '') });
    });
    room.on('typing', (_data: unknown, meta: MessageMeta) => {
      if (roomName !== current || !meta.from) return;
      const who = meta.from;
      $('typing').textContent = `${who} is typing…`;
      clearTimeout(typing.get(who));
      typing.set(
        who,
        setTimeout(() => {
          $('typing').textContent = '';
        }, 2500),
      );
    });
    await room.join();
    const option = Object.assign(document.createElement('option'), {
      value: roomName,
      textContent: roomName,
    });
    $('room').append(option);
  }
}

$('join-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const name = $<HTMLInputElement>('name').value.trim();
  const rooms = $<HTMLInputElement>('rooms')
    .value.split(',')
    .map((r) => r.trim())
    .filter((r) => /^[A-Za-z0-9_.:-]{1,128}$/.test(r));
  if (!names.test(name) || rooms.length === 0) return;
  start(name, rooms).catch((error: Error) => {
    $('status').textContent = `could not start: ${error.message}`;
  });
});

$('room').addEventListener('change', () => {
  current = $<HTMLSelectElement>('room').value;
  $('typing').textContent = '';
  render();
  void refreshMembers();
});

let lastTyping = 0;
$('text').addEventListener('input', () => {
  if (!client || Date.now() - lastTyping < 1500) return;
  lastTyping = Date.now();
  // Not stored, no seq: a typing indicator is worth nothing later.
  client
    .room(current)
    .send('typing', {}, { store: false })
    .catch(() => undefined);
});

$('send-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = $<HTMLInputElement>('text');
  const text = input.value.trim();
  if (!client || !text) return;
  input.value = '';
  // Shown at once as pending; the 'outgoing' handler above marks it sent or failed.
  client
    .room(current)
    .send('chat', { text })
    .catch(() => undefined);
});
