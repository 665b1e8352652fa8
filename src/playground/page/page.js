// The playground page: asks the server what the chosen person sees, shows it, and sends what they do. All
// HTML comes from the server, already escaped; this file only places it and wires the controls.

const $ = (id) => document.getElementById(id);
const view = {
  as: sessionStorage.getItem('pgs-as') || '',
  channel: sessionStorage.getItem('pgs-channel') || '',
  // In the person's direct message with the app: its `messages` or its `home` tab.
  tab: sessionStorage.getItem('pgs-tab') || 'messages',
  thread: null,
  modalKey: null,
  state: null,
};

async function post(path, body) {
  const res = await fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = await res.json().catch(() => ({ ok: false, error: `HTTP ${res.status}` }));
  if (!res.ok || json.ok === false) {
    say(
      json.error
        ? `Not done: ${json.error}`
        : `The app answered HTTP ${json.status ?? res.status}: Slack would show an error on this control.`,
    );
  }
  return json;
}

let statusTimer;
function say(text) {
  $('status').textContent = text;
  clearTimeout(statusTimer);
  statusTimer = setTimeout(() => ($('status').textContent = ''), 5000);
}

// ---- showing ------------------------------------------------------------------------------------------

let loading = null;
let again = false;
function stateQuery() {
  const q = new URLSearchParams({ as: view.as, channel: view.channel, tab: view.tab });
  if (view.thread) q.set('thread', view.thread);
  return q.toString();
}

async function refresh() {
  if (loading) {
    again = true;
    return loading;
  }
  loading = (async () => {
    do {
      again = false;
      const asked = stateQuery();
      const res = await fetch(`/ui/state?${asked}`);
      const state = res.ok ? await res.json() : null;
      // The person moved on (another channel, tab or person) while this was asked: never show the old view
      // over their choice — ask again for what they chose.
      if (stateQuery() !== asked) again = true;
      else if (state) render(state);
    } while (again);
  })().finally(() => (loading = null));
  return loading;
}

/**
 * The sidebar's conversations, updated in place: a button is never replaced while the person may be clicking
 * it (a live update landing between mouse down and up would swallow the click).
 */
function syncList(list, items) {
  while (list.children.length > items.length) list.lastElementChild.remove();
  items.forEach((item, i) => {
    let button = list.children[i]?.firstElementChild;
    if (!button) {
      const li = document.createElement('li');
      button = document.createElement('button');
      button.type = 'button';
      li.append(button);
      list.append(li);
    }
    button.dataset.conversation = item.id;
    button.setAttribute('aria-current', String(item.current));
    const content = `${item.label}\u0000${item.badge ?? ''}`;
    if (button.dataset.content === content) return;
    button.dataset.content = content;
    button.textContent = item.label;
    if (item.badge) {
      const badge = document.createElement('span');
      badge.className = 'badge';
      badge.textContent = item.badge;
      button.append(' ', badge);
    }
  });
}

function openConversation(channel, tab = 'messages') {
  view.channel = channel;
  view.tab = tab;
  view.thread = null;
  sessionStorage.setItem('pgs-channel', channel);
  sessionStorage.setItem('pgs-tab', tab);
  // Slack tells the app each time a person opens its Home tab (app_home_opened); the app answers views.publish.
  if (channel === 'dm' && tab === 'home') post('/ui/home', { as: view.as });
  refresh();
}

/** Sets an element's HTML only when it differs: an unchanged message keeps its buttons (and a click on them). */
function setHtml(el, html) {
  if (el.dataset.html === html) return;
  el.dataset.html = html;
  el.innerHTML = html;
}

function render(state) {
  view.state = state;
  if (!view.as) view.as = state.people[0].id;
  const inDm = state.channel.startsWith('D');
  view.channel = inDm ? 'dm' : state.channel;
  view.tab = state.tab;
  const person = $('person');
  if (person.options.length === 0) {
    for (const p of state.people) person.add(new Option(`${p.name} (${p.part})`, p.id));
  }
  person.value = view.as;

  const banner = $('banner');
  const b = state.banner;
  banner.textContent =
    b.mode === 'demo'
      ? `Demo incident on an embedded PostgreSQL${b.readOnly ? ' · read-only' : ''}`
      : `Watching ${b.target} · ${b.readOnly ? 'read-only: listings only, every cancel and terminate is refused (PGSESSIONS_READ_ONLY=false to allow)' : 'NOT read-only: approved kills are real, and anyone who reaches this page can play both the requester and the approver'}`;
  banner.classList.toggle('read-only', b.readOnly);
  // Against a real server with kills allowed, the two-person rule is one person with a menu: say so in red.
  banner.classList.toggle('danger', b.mode !== 'demo' && !b.readOnly);
  $('reset').hidden = !state.canReset;

  // A direct message with the app has two tabs, as in Slack: Home (the app's views.publish) and Messages.
  const home = inDm && state.tab === 'home';
  // Unread, as Slack marks it: a message newer than the last one this person saw in their DM.
  const seenKey = `pgs-seen-${view.as}`;
  const open = state.dms.find((c) => c.id === state.channel);
  if (open && !home) sessionStorage.setItem(seenKey, open.latest ?? '');
  const seen = Number(sessionStorage.getItem(seenKey) || 0);
  syncList(
    $('channels'),
    state.channels.map((c) => ({ id: c.id, label: `#${c.name}`, current: c.id === state.channel })),
  );
  syncList(
    $('dms'),
    state.dms.map((c) => ({
      id: 'dm',
      label: c.name,
      current: c.id === state.channel,
      badge: c.latest && Number(c.latest) > seen ? 'new' : null,
    })),
  );
  const name = open ? open.name : `#${state.channels.find((c) => c.id === state.channel)?.name ?? state.channel}`;
  $('channel-title').textContent = name;
  $('timeline').setAttribute('aria-label', `Messages in ${name}`);
  $('message').setAttribute('aria-label', `Message ${name}`);
  $('message').placeholder = `Message ${name}`;

  $('tabs').hidden = !inDm;
  $('tab-home').setAttribute('aria-selected', String(home));
  $('tab-messages').setAttribute('aria-selected', String(inDm && !home));
  $('home').hidden = !home;
  $('timeline').hidden = home;
  $('composer').hidden = home;
  setHtml($('home'), home && state.home ? state.home.html : '');

  const timeline = $('timeline');
  const atBottom = timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < 40;
  setHtml(timeline, state.timeline);
  if (atBottom) timeline.scrollTop = timeline.scrollHeight;

  $('thread').hidden = !state.thread;
  setHtml($('thread-body'), state.thread ? state.thread.html : '');
  renderModal(state.modal);
  localizeTimes();
}

/** Replace the modal only when the view changed, keeping what the person typed (as Slack does). */
function renderModal(modal) {
  const root = $('modal-root');
  const key = modal ? `${modal.id}:${modal.hash}:${modal.html.length}` : null;
  if (key === view.modalKey) return;
  const kept = modal && view.modalKey?.startsWith(`${modal.id}:`) ? readValues() : {};
  view.modalKey = key;
  root.innerHTML = modal ? modal.html : '';
  if (!modal) return;
  for (const [block, actions] of Object.entries(kept)) {
    for (const [action, value] of Object.entries(actions)) {
      const el = root.querySelector(`[data-block-id="${CSS.escape(block)}"][data-action-id="${CSS.escape(action)}"]`);
      if (!el || value === null) continue;
      if (el.dataset.input === 'radio_buttons') {
        for (const r of el.querySelectorAll('input[type=radio]')) r.checked = r.value === value;
      } else {
        el.value = value;
      }
    }
  }
  const first = root.querySelector('[aria-invalid="true"], .field, input[type=radio]');
  if (first && !root.contains(document.activeElement)) first.focus();
}

function readValues() {
  const values = {};
  for (const el of $('modal-root').querySelectorAll('[data-input]')) {
    const block = el.dataset.blockId;
    const action = el.dataset.actionId;
    values[block] ??= {};
    if (el.dataset.input === 'radio_buttons') {
      const checked = el.querySelector('input[type=radio]:checked');
      values[block][action] = checked ? checked.value : null;
    } else {
      values[block][action] = el.value;
    }
  }
  return values;
}

function localizeTimes() {
  for (const t of document.querySelectorAll('time.msg-time')) {
    const d = new Date(t.getAttribute('datetime'));
    t.textContent = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  }
}

// ---- acting -------------------------------------------------------------------------------------------

document.addEventListener('click', async (event) => {
  const target = event.target instanceof Element ? event.target : null;
  if (!target) return;
  const button = target.closest('[data-interactive="button"]');
  if (button) {
    const article = button.closest('article.msg');
    const home = button.closest('section.home[data-view]');
    if (home) {
      const element = button.dataset.element === 'accessory' ? 'accessory' : Number(button.dataset.element);
      button.disabled = true;
      await post('/ui/home-action', {
        as: view.as,
        view: home.dataset.view,
        block: Number(button.dataset.block),
        element,
      });
      button.disabled = false;
      return;
    }
    if (!article) {
      say('Buttons inside modals are not supported by the playground yet.');
      return;
    }
    if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
    const element = button.dataset.element === 'accessory' ? 'accessory' : Number(button.dataset.element);
    button.disabled = true;
    await post('/ui/action', {
      as: view.as,
      channel: article.dataset.channel,
      ts: article.dataset.ts,
      block: Number(button.dataset.block),
      element,
    });
    button.disabled = false;
    return;
  }
  // A permalink to a message of this workspace (chat.getPermalink) opens it here, in its thread.
  const link = target.closest('a[href]');
  const permalink =
    link && /^https:\/\/[a-z0-9-]+\.slack\.com\/archives\/([CGD][A-Z0-9]+)\/p(\d{10})(\d{6})$/.exec(link.href);
  if (permalink) {
    event.preventDefault();
    openConversation(permalink[1].startsWith('D') ? 'dm' : permalink[1]);
    view.thread = `${permalink[2]}.${permalink[3]}`;
    refresh();
    return;
  }
  const conversation = target.closest('[data-conversation]');
  if (conversation) {
    openConversation(conversation.dataset.conversation);
    return;
  }
  const replies = target.closest('button.replies');
  if (replies) {
    view.thread = replies.dataset.thread;
    refresh();
    return;
  }
  const close = target.closest('[data-close]');
  if (close) {
    const form = close.closest('form.modal');
    await post('/ui/close', { as: view.as, view: form.dataset.view });
  }
});

document.addEventListener('submit', async (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.classList.contains('modal')) return;
  event.preventDefault();
  await post('/ui/submit', { as: view.as, view: form.dataset.view, values: readValues() });
});

$('composer').addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = $('message');
  const text = input.value;
  if (text.trim() === '') return;
  input.value = '';
  await post('/ui/command', { as: view.as, channel: view.state?.channel ?? view.channel, text });
});

$('person').addEventListener('change', (event) => {
  view.as = event.target.value;
  sessionStorage.setItem('pgs-as', view.as);
  view.modalKey = null;
  // In a direct message, the new person sees their own (and their own Home, opened anew).
  if (view.channel === 'dm' && view.tab === 'home') post('/ui/home', { as: view.as });
  refresh();
});

for (const tab of document.querySelectorAll('[role="tab"][data-tab]')) {
  tab.addEventListener('click', () => openConversation('dm', tab.dataset.tab));
}

$('close-thread').addEventListener('click', () => {
  view.thread = null;
  refresh();
});

$('reset').addEventListener('click', async () => {
  $('reset').disabled = true;
  say('Ending what is left of the incident and starting it again…');
  const result = await post('/ui/reset', {});
  $('reset').disabled = false;
  if (result.ok) say('The incident is back: every session is running again.');
});

// Live: the server says when anything changed; the page asks again for what this person sees.
const events = new EventSource('/events');
events.addEventListener('change', () => refresh());
events.addEventListener('open', () => refresh());
refresh();
