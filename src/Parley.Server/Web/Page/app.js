// The Parley chat page. It speaks the chat protocol over /ws: one command line per frame out, one JSON event per
// frame in (docs/protocol.md). Everything people send is put on the page with textContent, never as markup.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const key = (name) => name.normalize('NFKC').toLowerCase();
  const params = new URLSearchParams(location.search);

  const state = {
    name: '',
    password: '',
    socket: null,
    nameConfirmed: false,
    signedIn: false,
    stopped: false,
    attempts: 0,
    retryTimer: 0,
    countdownTimer: 0,
    rooms: new Map(),
    order: [],
    active: null,
    serverCurrent: null,
  };

  // ---- conversations (rooms and private ones) ----

  function conversation(name, isPrivate) {
    const k = (isPrivate ? '@' : '') + key(name);
    let c = state.rooms.get(k);
    if (c) {
      return c;
    }

    const log = document.createElement('ol');
    log.className = 'log';
    log.setAttribute('aria-label', isPrivate ? `Messages with ${name}` : `Messages in #${name}`);
    log.hidden = true;
    $('logs').append(log);
    c = { key: k, name, isPrivate, log, ids: new Set(), minId: 0, maxId: 0, unread: 0, members: new Set(), count: 0, topic: '', exhausted: false };
    state.rooms.set(k, c);
    state.order.push(k);
    renderRoomList();
    return c;
  }

  function forget(c) {
    state.rooms.delete(c.key);
    state.order = state.order.filter((k) => k !== c.key);
    c.log.remove();
    if (state.serverCurrent === c.key) {
      state.serverCurrent = null;
    }

    if (state.active === c) {
      const next = state.rooms.get(state.order[0]);
      state.active = null;
      if (next) {
        activate(next);
      }
    }

    renderRoomList();
    saveSession();
  }

  function activate(c) {
    if (state.active) {
      state.active.log.hidden = true;
    }

    state.active = c;
    c.log.hidden = false;
    c.unread = 0;
    $('room-title').textContent = c.isPrivate ? `Private: ${c.name}` : `#${c.name}`;
    $('topic').textContent = c.topic;
    $('older').hidden = c.isPrivate || c.exhausted;
    renderRoomList();
    renderMembers();
    updateTitle();
    scrollToEnd(c, true);
    closeSidebar();
    saveSession();
  }

  function renderRoomList() {
    const list = $('room-list');
    list.replaceChildren();
    for (const k of state.order) {
      const c = state.rooms.get(k);
      const li = document.createElement('li');
      const tab = document.createElement('button');
      tab.type = 'button';
      tab.className = 'tab';
      tab.setAttribute('aria-current', String(c === state.active));
      const label = c.isPrivate ? c.name : `#${c.name}`;
      const parts = [label];
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = label;
      tab.append(name);
      const extra = document.createElement('span');
      if (!c.isPrivate && c.count > 0) {
        const count = document.createElement('span');
        count.className = 'count';
        count.textContent = String(c.count);
        extra.append(count, ' ');
        parts.push(`${c.count} ${c.count === 1 ? 'member' : 'members'}`);
      }

      if (c.unread > 0) {
        const unread = document.createElement('span');
        unread.className = 'unread';
        unread.textContent = String(c.unread);
        extra.append(unread);
        parts.push(`${c.unread} unread`);
      }

      tab.append(extra);
      tab.setAttribute('aria-label', parts.join(', '));
      tab.addEventListener('click', () => activate(c));
      const leave = document.createElement('button');
      leave.type = 'button';
      leave.className = 'leave';
      leave.textContent = '×';
      leave.setAttribute('aria-label', `Leave ${label}`);
      leave.addEventListener('click', () => leaveConversation(c));
      li.append(tab, leave);
      list.append(li);
    }
  }

  function renderMembers() {
    const c = state.active;
    const list = $('member-list');
    list.replaceChildren();
    $('members-title').hidden = !c || c.isPrivate;
    if (!c || c.isPrivate) {
      return;
    }

    for (const member of [...c.members].sort((a, b) => a.localeCompare(b))) {
      const li = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = member;
      button.setAttribute('aria-label', `Message ${member} privately`);
      button.addEventListener('click', () => {
        activate(conversation(member, true));
        $('message').focus();
      });
      li.append(button);
      list.append(li);
    }

    if (c.count > c.members.size) {
      const li = document.createElement('li');
      li.textContent = `and ${c.count - c.members.size} more`;
      list.append(li);
    }
  }

  function setMembers(c, names, count) {
    c.members = new Set(names);
    c.count = Math.max(count || 0, c.members.size);
    renderRoomList();
    if (c === state.active) {
      renderMembers();
    }
  }

  function memberJoined(c, name) {
    if (!c.members.has(name)) {
      c.members.add(name);
      c.count++;
    }
  }

  function memberLeft(c, name) {
    if (c.members.delete(name)) {
      c.count = Math.max(0, c.count - 1);
    }
  }

  // ---- lines ----

  function line(kind, ev, from, text) {
    const li = document.createElement('li');
    li.className = `line ${kind}`;
    if (ev.history) {
      li.classList.add('history');
    }

    const when = ev.ts ? new Date(ev.ts) : new Date();
    const time = document.createElement('time');
    time.dateTime = when.toISOString();
    time.title = when.toLocaleString();
    time.textContent = when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    li.append(time);
    if (from) {
      const who = document.createElement('span');
      who.className = 'from';
      who.textContent = from;
      li.append(who);
    }

    const body = document.createElement('span');
    body.className = 'text';
    body.textContent = text;
    li.append(body);
    return li;
  }

  function nearEnd(c) {
    const logs = $('logs');
    return c !== state.active || logs.scrollHeight - logs.scrollTop - logs.clientHeight < 40;
  }

  function scrollToEnd(c, force) {
    if (c === state.active && force) {
      const logs = $('logs');
      logs.scrollTop = logs.scrollHeight;
    }
  }

  function append(c, li) {
    const stick = nearEnd(c);
    c.log.append(li);
    scrollToEnd(c, stick);
  }

  // A line with an id goes where its id says: live lines at the end, older pages above what is shown.
  function place(c, ev, li) {
    const id = ev.id;
    if (c.ids.has(id)) {
      return;
    }

    // A line of our own that came back through history gets the id it was given, instead of showing twice.
    if (ev.from && key(ev.from) === key(state.name)) {
      for (const mine of c.log.querySelectorAll('li.mine:not([data-id])')) {
        if (mine.querySelector('.text').textContent === ev.text) {
          mine.dataset.id = String(id);
          c.ids.add(id);
          return;
        }
      }
    }

    c.ids.add(id);
    li.dataset.id = String(id);
    c.minId = c.minId === 0 ? id : Math.min(c.minId, id);
    if (id > c.maxId) {
      c.maxId = id;
      append(c, li);
      return;
    }

    let before = null;
    for (const other of c.log.children) {
      if (other.dataset.id && Number(other.dataset.id) > id) {
        before = other;
        break;
      }
    }

    const logs = $('logs');
    const fromBottom = logs.scrollHeight - logs.scrollTop;
    c.log.insertBefore(li, before);
    if (c === state.active) {
      logs.scrollTop = logs.scrollHeight - fromBottom;
    }
  }

  function system(text, kind, roomName) {
    const c = (roomName && state.rooms.get(key(roomName))) || state.active;
    if (c) {
      append(c, line(kind || 'notice', {}, '', text));
    }
  }

  function countUnread(c, ev) {
    if (ev.history || (c === state.active && !document.hidden)) {
      return;
    }

    c.unread++;
    renderRoomList();
    updateTitle();
  }

  function updateTitle() {
    let unread = 0;
    for (const c of state.rooms.values()) {
      unread += c.unread;
    }

    const where = state.active ? (state.active.isPrivate ? state.active.name : `#${state.active.name}`) : 'Parley';
    document.title = `${unread > 0 ? `(${unread}) ` : ''}${where} - Parley`;
  }

  // ---- events from the server ----

  function handle(ev) {
    const room = ev.room ? state.rooms.get(key(ev.room)) : null;
    switch (ev.type) {
      case 'message':
      case 'action':
        if (room) {
          place(room, ev, line(ev.type === 'action' ? 'action' : 'message', ev, ev.from, ev.text));
          countUnread(room, ev);
        }
        break;
      case 'topic':
        if (room) {
          room.topic = ev.text;
          if (room === state.active) {
            $('topic').textContent = ev.text;
          }

          if (ev.from && ev.id !== undefined) {
            place(room, ev, line('event', ev, '', `${ev.from} set the topic: ${ev.text}`));
          }
        }
        break;
      case 'private': {
        const c = conversation(ev.from, true);
        append(c, line('message', ev, ev.from, ev.text));
        countUnread(c, ev);
        break;
      }
      case 'join':
        if (key(ev.from) === key(state.name)) {
          confirmName();
        }

        if (room) {
          memberJoined(room, ev.from);
          append(room, line('event', ev, '', `${ev.from} joined #${ev.room}`));
          renderRoomList();
          if (room === state.active) {
            renderMembers();
          }
        }
        break;
      case 'leave':
        if (room && key(ev.from) === key(state.name)) {
          forget(room);
        } else if (room) {
          memberLeft(room, ev.from);
          append(room, line('event', ev, '', `${ev.from} left #${ev.room}${ev.text ? ` (${ev.text})` : ''}`));
          renderRoomList();
          if (room === state.active) {
            renderMembers();
          }
        }
        break;
      case 'kick':
        // A channel operator (IRC) put someone out of the room: the page leaves it when that someone is this user.
        if (room && key(ev.to) === key(state.name)) {
          forget(room);
          setStatus(`${ev.from} kicked you out of #${ev.room}${ev.text ? ` (${ev.text})` : ''}`, 'bad');
        } else if (room) {
          memberLeft(room, ev.to);
          append(room, line('event', ev, '', `${ev.from} kicked ${ev.to} out of #${ev.room}${ev.text ? ` (${ev.text})` : ''}`));
          renderRoomList();
          if (room === state.active) {
            renderMembers();
          }
        }
        break;
      case 'mode':
        if (room) {
          append(room, line('event', ev, '', `${ev.from} set mode ${ev.text}${ev.to ? ` ${ev.to}` : ''}`));
        }
        break;
      case 'nick':
        if (key(ev.from) === key(state.name)) {
          state.name = ev.to;
          confirmName();
          saveSession();
        }

        for (const c of state.rooms.values()) {
          if (c.members.delete(ev.from)) {
            c.members.add(ev.to);
            append(c, line('event', ev, '', `${ev.from} is now known as ${ev.to}`));
          }
        }
        renderMembers();
        break;
      case 'who':
        if (room) {
          setMembers(room, ev.members || [], ev.count);
        }
        break;
      case 'rooms':
        renderAllRooms(ev.rooms || []);
        break;
      case 'notice':
        handleNotice(ev);
        break;
      case 'error':
        handleError(ev);
        break;
      default:
        // pong and anything newer than this page: nothing to show.
        break;
    }
  }

  function handleNotice(ev) {
    if (ev.code === 'welcome') {
      return;
    }

    if (ev.code === 'shutting_down') {
      setStatus('The server is restarting…', 'bad');
    }

    if (ev.text.startsWith('no history of #') && ev.room) {
      const c = state.rooms.get(key(ev.room));
      if (c) {
        c.exhausted = true;
        if (c === state.active) {
          $('older').hidden = true;
        }
      }
      return;
    }

    system(ev.text, 'notice');
  }

  function handleError(ev) {
    switch (ev.code) {
      case 'name_taken':
      case 'invalid_name':
        if (!state.nameConfirmed) {
          if (state.signedIn) {
            // After a reconnect our old connection may still hold the name for a moment: try again shortly.
            setStatus(`Waiting for the name ${state.name} to be free…`, 'bad');
            dropSocket();
            return;
          }

          stop();
          showSignIn(ev.text);
          return;
        }
        break;
      case 'password_required':
      case 'wrong_password':
        stop();
        showSignIn(ev.text);
        return;
      case 'kicked':
      case 'banned':
        stop();
        setStatus(`Disconnected: ${ev.text.replace(/^disconnected: /, '')}`, 'bad');
        $('reconnect').hidden = false;
        return;
      default:
        break;
    }

    system(ev.text, 'error');
  }

  function confirmName() {
    if (!state.nameConfirmed) {
      state.nameConfirmed = true;
      state.signedIn = true;
      setStatus(`Connected as ${state.name}`, 'ok');
    }
  }

  function renderAllRooms(rooms) {
    const list = $('all-rooms');
    list.replaceChildren();
    for (const r of rooms) {
      const li = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = `#${r.name} (${r.members})`;
      button.setAttribute('aria-label', `Join #${r.name}, ${r.members} ${r.members === 1 ? 'member' : 'members'}`);
      button.addEventListener('click', () => joinRoom(r.name));
      li.append(button);
      list.append(li);
    }
  }

  // ---- the connection ----

  function send(text) {
    if (state.socket && state.socket.readyState === WebSocket.OPEN) {
      state.socket.send(text);
      return true;
    }

    return false;
  }

  // Plain lines and room commands go to the server's current room: make it this one first.
  function focusServer(c) {
    if (!c.isPrivate && state.serverCurrent !== c.key) {
      send(`/join ${c.name}`);
      state.serverCurrent = c.key;
    }
  }

  function connect() {
    clearTimeout(state.retryTimer);
    clearInterval(state.countdownTimer);
    $('reconnect').hidden = true;
    state.stopped = false;
    state.nameConfirmed = false;
    setStatus(state.signedIn ? 'Reconnecting…' : 'Connecting…');
    const socket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
    state.socket = socket;
    socket.addEventListener('open', () => {
      if (socket !== state.socket) {
        return;
      }

      // A new connection starts in the lobby; then the name, then every room this page has, each caught up.
      state.serverCurrent = 'lobby';
      if (state.password) {
        socket.send(`/pass ${state.password}`);
      }

      socket.send(`/nick ${state.name}`);
      for (const k of state.order) {
        const c = state.rooms.get(k);
        if (c.isPrivate) {
          continue;
        }

        socket.send(`/join ${c.name}`);
        state.serverCurrent = c.key;
        if (c.maxId > 0) {
          socket.send(`/history after ${c.maxId} 500`);
        }

        socket.send('/who');
      }

      if (!state.rooms.has('lobby')) {
        socket.send('/part lobby');
        if (state.serverCurrent === 'lobby') {
          state.serverCurrent = null;
        }
      }
    });
    socket.addEventListener('message', (e) => {
      if (socket !== state.socket) {
        return;
      }

      let ev;
      try {
        ev = JSON.parse(e.data);
      } catch {
        return;
      }

      if (ev.type === 'join' && key(ev.from) === key(state.name)) {
        state.attempts = 0;
      }

      handle(ev);
    });
    socket.addEventListener('close', () => {
      if (socket !== state.socket) {
        return;
      }

      state.socket = null;
      if (!state.stopped) {
        scheduleReconnect();
      }
    });
  }

  function dropSocket() {
    const socket = state.socket;
    state.socket = null;
    if (socket) {
      socket.close();
    }

    scheduleReconnect();
  }

  function stop() {
    state.stopped = true;
    clearTimeout(state.retryTimer);
    clearInterval(state.countdownTimer);
    const socket = state.socket;
    state.socket = null;
    if (socket) {
      socket.close();
    }
  }

  // Backoff with jitter, so a restarted server is not met by every page at the same instant.
  function scheduleReconnect() {
    clearTimeout(state.retryTimer);
    clearInterval(state.countdownTimer);
    const delay = Math.min(10000, 500 * 2 ** state.attempts) * (0.5 + Math.random() / 2);
    state.attempts = Math.min(state.attempts + 1, 5);
    const due = Date.now() + delay;
    const tick = () => setStatus(`Disconnected. Reconnecting in ${Math.max(1, Math.ceil((due - Date.now()) / 1000))} s…`, 'bad');
    tick();
    state.countdownTimer = setInterval(tick, 1000);
    state.retryTimer = setTimeout(connect, delay);
    $('reconnect').hidden = false;
  }

  function setStatus(text, tone) {
    const status = $('status');
    status.textContent = text;
    status.className = `status ${tone || ''}`;
  }

  // ---- what the user does ----

  function joinRoom(name) {
    const trimmed = name.trim().replace(/^#/, '');
    if (!trimmed) {
      return;
    }

    const c = conversation(trimmed, false);
    send(`/join ${trimmed}`);
    state.serverCurrent = c.key;
    send('/who');
    activate(c);
  }

  function leaveConversation(c) {
    if (c.isPrivate) {
      forget(c);
      return;
    }

    // The room tells everyone else; the one leaving hears nothing back, so its tab goes now.
    send(`/part ${c.name}`);
    forget(c);
  }

  function say(text) {
    const c = state.active;
    if (!c) {
      return;
    }

    for (const one of text.split('\n')) {
      if (!one.trim()) {
        continue;
      }

      if (one.startsWith('/') && !one.startsWith('//')) {
        command(one);
        continue;
      }

      const shown = one.startsWith('//') ? one.slice(1) : one;
      if (c.isPrivate) {
        send(`/msg ${c.name} ${shown}`);
      } else {
        focusServer(c);
        send(one);
      }

      const li = line('message mine', {}, state.name, shown);
      append(c, li);
      scrollToEnd(c, true);
    }
  }

  function command(text) {
    const [word, ...rest] = text.slice(1).split(' ');
    const argument = rest.join(' ').trim();
    const c = state.active;
    switch (word.toLowerCase()) {
      case 'join':
        if (argument) {
          joinRoom(argument.split(' ')[0]);
        } else {
          system('usage: /join ROOM', 'error');
        }
        return;
      case 'part':
      case 'leave': {
        const target = argument ? state.rooms.get(key(argument.split(' ')[0].replace(/^#/, ''))) : c;
        if (target) {
          leaveConversation(target);
        } else {
          send(`/part ${argument}`);
        }
        return;
      }
      case 'msg': {
        const [to, ...words] = argument.split(' ');
        const body = words.join(' ');
        send(text);
        if (to && body) {
          const p = conversation(to, true);
          append(p, line('message mine', {}, state.name, body));
          activate(p);
        }
        return;
      }
      case 'me':
        if (c && c.isPrivate) {
          system('/me works in rooms', 'error');
          return;
        }

        if (c) {
          focusServer(c);
        }

        send(text);
        if (c && argument) {
          append(c, line('action mine', {}, state.name, argument));
        }
        return;
      case 'quit':
        send(text);
        signOut();
        return;
      case 'nick':
        send(text);
        return;
      default:
        // /who, /topic, /history, /help, /rooms, /oper, /kick, /ban, /ping and the rest: the server answers.
        if (c && !c.isPrivate) {
          focusServer(c);
        }

        send(text);
    }
  }

  function loadOlder() {
    const c = state.active;
    if (!c || c.isPrivate) {
      return;
    }

    focusServer(c);
    send(c.minId > 0 ? `/history before ${c.minId} 50` : '/history 50');
  }

  // ---- signing in and out ----

  function showSignIn(error) {
    $('chat').hidden = true;
    $('signin').hidden = false;
    $('signin-error').textContent = error || '';
    $('name').value = state.name;
    $('name').focus();
  }

  function signIn(name, room, password) {
    state.name = name;
    state.password = password;
    state.signedIn = false;
    state.attempts = 0;
    for (const c of [...state.rooms.values()]) {
      forget(c);
    }

    const lobby = conversation('lobby', false);
    const first = room && key(room) !== 'lobby' ? conversation(room, false) : lobby;
    $('signin').hidden = true;
    $('chat').hidden = false;
    activate(first);
    connect();
    $('message').focus();
  }

  function signOut() {
    stop();
    sessionStorage.removeItem('parley');
    state.signedIn = false;
    setStatus('');
    showSignIn('');
  }

  function saveSession() {
    if (state.name) {
      const rooms = state.order.filter((k) => !k.startsWith('@')).map((k) => state.rooms.get(k).name);
      sessionStorage.setItem('parley', JSON.stringify({ name: state.name, rooms, active: state.active ? state.active.name : '' }));
    }
  }

  function closeSidebar() {
    $('sidebar').classList.remove('open');
    $('rooms-toggle').setAttribute('aria-expanded', 'false');
  }

  function wire() {
    $('signin-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const name = $('name').value.trim();
      if (!name) {
        $('signin-error').textContent = 'Choose a name first.';
        $('name').focus();
        return;
      }

      signIn(name, $('room').value.trim().replace(/^#/, ''), $('password').value);
    });
    $('send-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const box = $('message');
      const text = box.value;
      box.value = '';
      say(text);
    });
    $('message').addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        $('send-form').requestSubmit();
      }
    });
    $('join-form').addEventListener('submit', (e) => {
      e.preventDefault();
      joinRoom($('join-room').value);
      $('join-room').value = '';
    });
    $('browse').addEventListener('click', () => send('/rooms'));
    $('older').addEventListener('click', loadOlder);
    $('reconnect').addEventListener('click', () => {
      state.attempts = 0;
      connect();
    });
    $('sign-out').addEventListener('click', () => {
      send('/quit');
      signOut();
    });
    $('rooms-toggle').addEventListener('click', () => {
      const open = $('sidebar').classList.toggle('open');
      $('rooms-toggle').setAttribute('aria-expanded', String(open));
    });
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        closeSidebar();
      }

      // Alt+Up and Alt+Down go through the rooms, as in most chat programs.
      if (e.altKey && (e.key === 'ArrowUp' || e.key === 'ArrowDown') && state.active) {
        e.preventDefault();
        const at = state.order.indexOf(state.active.key);
        const next = state.order[(at + (e.key === 'ArrowUp' ? -1 : 1) + state.order.length) % state.order.length];
        activate(state.rooms.get(next));
        $('message').focus();
      }
    });
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden && state.active) {
        state.active.unread = 0;
        renderRoomList();
        updateTitle();
      }
    });
  }

  function start() {
    wire();
    const saved = JSON.parse(sessionStorage.getItem('parley') || 'null');
    const name = params.get('name') || (saved && saved.name) || '';
    const room = params.get('room') || (saved && saved.active) || '';
    $('name').value = name;
    if (room) {
      $('room').value = room;
    }

    if (name && !params.has('password')) {
      signIn(name, room, '');
      if (saved && saved.name === name) {
        for (const r of saved.rooms) {
          conversation(r, false);
        }
        renderRoomList();
      }
    } else {
      showSignIn('');
    }
  }

  start();
})();
