// Cubby kiosk: the locker touchscreen. Plain ES module, no build step, no dependencies.
// Talks to the edge hub's JSON API on the same origin (see shared/API.md, "Edge hub").
//
// Privacy: the pickup code lives only in `state.digits` while it is typed and in one request
// body; it is cleared from the screen and from memory on submit, and never stored anywhere.
//
// Tunables (read each time they are used, so a test can set them at any point):
//   window.CUBBY_KIOSK_RESET_MS          outcome message -> idle (default 10 000)
//   window.CUBBY_KIOSK_HEALTH_MS         GET /health poll interval (default 5 000)
//   window.CUBBY_KIOSK_REQUEST_TIMEOUT_MS a request without an answer counts as a network failure (default 30 000)
//   window.CUBBY_KIOSK_COURIER_IDLE_MS   courier mode without a touch -> back to pickup, form cleared (default 120 000)
// Hooks: window.cubbyKiosk = { injectQr(text), setLanguage(lang), reset(), refreshHealth(), state() }

import { LANGUAGES, STRINGS, pickLanguage, t } from './i18n.js';

const CODE_DIGITS = 9;

function setting(name, fallback) {
  const value = Number(window[name]);
  return Number.isFinite(value) && value >= 0 ? value : fallback;
}

const el = (id) => document.getElementById(id);
const dom = {
  html: document.documentElement,
  body: document.body,
  bankId: el('bank-id'),
  banner: el('offline-banner'),
  langToggle: el('lang-toggle'),
  courierMode: el('courier-mode'),
  title: el('title'),
  hint: el('hint'),
  code: el('code-display'),
  message: el('message'),
  messageIcon: el('message-icon'),
  messageText: el('message-text'),
  messageDetail: el('message-detail'),
  scan: el('scan-qr'),
  keypad: el('keypad'),
  keys: [...document.querySelectorAll('#keypad [data-key]')],
  courierForm: el('courier-form'),
  courierId: el('courier-id'),
  courierSecret: el('courier-secret'),
  parcelId: el('parcel-id'),
  parcelSize: el('parcel-size'),
  courierSubmit: el('courier-submit'),
  depositStep: el('deposit-step'),
  courierDone: el('courier-done'),
  scanner: el('scanner'),
  scannerVideo: el('scanner-video'),
  scannerCancel: el('scanner-cancel'),
};

const state = {
  lang: pickLanguage([...(navigator.languages ?? []), navigator.language]),
  mode: 'pickup', // 'pickup' | 'courier'
  digits: '',
  busy: false,
  throttledUntil: 0, // epoch ms; the keypad is disabled until then
  outcome: null, // { key, textKey?, params?, raw?, detail?, errorCode? }
  deposit: null, // { depositId, compartment } while a compartment stands open for a courier
  bankId: null,
  health: null, // 'online' | 'offline' | 'unreachable'
};

const timers = { reset: 0, countdown: 0, health: 0, courierIdle: 0 };

// ---------------------------------------------------------------------------------------------
// Text

const tr = (key, params) => t(state.lang, key, params);

/** Fill `target` with `template`, where `{name}` may be a string or a DOM node (never HTML). */
function renderTemplate(target, template, params = {}) {
  target.replaceChildren();
  for (const part of template.split(/(\{\w+\})/)) {
    const m = /^\{(\w+)\}$/.exec(part);
    const value = m && m[1] in params ? params[m[1]] : part;
    target.append(value instanceof Node ? value : document.createTextNode(String(value)));
  }
}

function applyLanguage() {
  dom.html.lang = state.lang;
  for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = tr(node.dataset.i18n);
  for (const node of document.querySelectorAll('[data-i18n-aria-label]')) {
    node.setAttribute('aria-label', tr(node.dataset.i18nAriaLabel));
  }
  const other = LANGUAGES[(LANGUAGES.indexOf(state.lang) + 1) % LANGUAGES.length];
  dom.langToggle.textContent = STRINGS[other].language_name;
  dom.langToggle.lang = other;
  dom.langToggle.setAttribute('aria-label', STRINGS[other].lang_toggle_label);
  dom.langToggle.dataset.lang = other;
  renderMode();
  renderBank();
  renderMessage();
}

// ---------------------------------------------------------------------------------------------
// Outcome message (the aria-live region)

const TONES = {
  busy: 'busy',
  opened: 'ok',
  deposited: 'ok',
  deposit_open: 'info',
  scan_hint: 'info',
  code_used: 'info',
  invalid_code: 'bad',
  door_fault: 'bad',
  error: 'bad',
  throttled: 'warn',
  code_expired: 'warn',
  code_revoked: 'warn',
  malformed_code: 'warn',
  qr_invalid: 'warn',
  wrong_bank: 'warn',
};

const svg = (body) =>
  `<svg viewBox="0 0 48 48" width="1em" height="1em" fill="none" stroke="currentColor" stroke-width="5" stroke-linecap="round" stroke-linejoin="round">${body}</svg>`;
const ICONS = {
  ok: svg('<circle cx="24" cy="24" r="20"/><path d="M14 25l7 7 13-15"/>'),
  bad: svg('<circle cx="24" cy="24" r="20"/><path d="M16 16l16 16M32 16L16 32"/>'),
  warn: svg('<path d="M24 5L45 42H3z"/><path d="M24 19v10M24 35v1"/>'),
  info: svg('<circle cx="24" cy="24" r="20"/><path d="M24 22v12M24 14v1"/>'),
  busy: svg('<path d="M24 4a20 20 0 1 1-20 20"/>'),
  clock: svg('<circle cx="24" cy="24" r="20"/><path d="M24 12v12l8 6"/>'),
};

function renderMessage() {
  const o = state.outcome;
  dom.message.dataset.outcome = o?.key ?? '';
  if (o?.errorCode) dom.message.dataset.errorCode = o.errorCode;
  else delete dom.message.dataset.errorCode;
  const tone = o ? (TONES[o.key] ?? 'bad') : '';
  dom.message.dataset.tone = tone;
  dom.messageIcon.innerHTML = o ? (o.key === 'throttled' ? ICONS.clock : ICONS[tone]) : '';
  if (!o) {
    dom.messageText.replaceChildren();
  } else if (o.key === 'throttled') {
    const countdown = document.createElement('span');
    countdown.className = 'countdown';
    countdown.dataset.testid = 'countdown';
    countdown.setAttribute('role', 'timer');
    countdown.setAttribute('aria-live', 'off'); // announced once with the message, not every second
    countdown.textContent = formatRemaining(state.throttledUntil - Date.now());
    renderTemplate(dom.messageText, tr('throttled'), { time: countdown });
  } else if (o.raw) {
    dom.messageText.textContent = o.raw;
  } else {
    dom.messageText.textContent = tr(o.textKey ?? o.key, o.params);
  }
  const detail = o?.detail && o.detail !== dom.messageText.textContent ? o.detail : '';
  dom.messageDetail.textContent = detail;
  dom.messageDetail.hidden = !detail;
}

/** Show an outcome; most go back to idle on their own after CUBBY_KIOSK_RESET_MS. */
function showOutcome(outcome, { autoReset = true } = {}) {
  clearTimeout(timers.reset);
  state.outcome = outcome;
  renderMessage();
  if (autoReset) timers.reset = setTimeout(() => clearOutcome(), setting('CUBBY_KIOSK_RESET_MS', 10_000));
}

function clearOutcome() {
  clearTimeout(timers.reset);
  if (isThrottled() && state.mode === 'pickup') {
    showThrottled();
    return;
  }
  state.outcome = null;
  // a half-typed code left behind goes too: the next person must not see it
  setDigits('');
  renderMessage();
}

// ---------------------------------------------------------------------------------------------
// Throttle countdown

const isThrottled = () => state.throttledUntil > Date.now();

function formatRemaining(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(total / 60)}:${String(total % 60).padStart(2, '0')}`;
}

function startThrottle(seconds) {
  const s = Number.isFinite(seconds) && seconds > 0 ? seconds : 60;
  state.throttledUntil = Math.max(state.throttledUntil, Date.now() + s * 1000);
  showThrottled();
}

function showThrottled() {
  clearInterval(timers.countdown);
  showOutcome({ key: 'throttled' }, { autoReset: false });
  renderControls();
  timers.countdown = setInterval(tickThrottle, 250);
}

function tickThrottle() {
  if (isThrottled()) {
    const node = dom.message.querySelector('[data-testid="countdown"]');
    if (node) node.textContent = formatRemaining(state.throttledUntil - Date.now());
    return;
  }
  clearInterval(timers.countdown);
  state.throttledUntil = 0;
  if (state.outcome?.key === 'throttled') {
    state.outcome = null;
    renderMessage();
  }
  renderControls();
}

// ---------------------------------------------------------------------------------------------
// Controls state

function renderControls() {
  const locked = state.busy || isThrottled();
  const hadFocus = dom.keypad.contains(document.activeElement) || document.activeElement === dom.scan;
  for (const key of dom.keys) key.disabled = locked;
  dom.scan.disabled = locked;
  dom.keypad.setAttribute('aria-disabled', String(locked));
  // a disabled button drops focus to <body>; park it on the code display so keyboard users keep their place
  if (locked && hadFocus) dom.code.focus({ preventScroll: true });
  const courierLocked = state.busy;
  for (const field of [dom.courierId, dom.courierSecret, dom.parcelId, dom.parcelSize, dom.courierSubmit]) {
    field.disabled = courierLocked;
  }
  dom.courierDone.disabled = courierLocked;
  // a courier with an open compartment must finish it (Done) before leaving courier mode
  dom.courierMode.disabled = state.busy || state.deposit !== null;
}

function renderMode() {
  const courier = state.mode === 'courier';
  dom.body.dataset.mode = state.mode;
  dom.title.textContent = tr(courier ? 'courier_title' : 'pickup_title');
  dom.hint.textContent = tr(courier ? 'courier_hint' : 'pickup_hint');
  dom.courierMode.textContent = tr(courier ? 'courier_exit' : 'courier_mode');
  dom.courierMode.setAttribute('aria-pressed', String(courier));
  dom.courierForm.hidden = !courier || state.deposit !== null;
  dom.depositStep.hidden = !courier || state.deposit === null;
  dom.keypad.hidden = courier;
  dom.scan.hidden = courier;
  dom.code.closest('.code-block').hidden = courier;
}

function renderBank() {
  dom.bankId.textContent = state.bankId ? tr('bank_label', { bankId: state.bankId }) : '';
  dom.banner.hidden = state.health === 'online' || state.health === null;
  dom.banner.dataset.state = state.health ?? '';
  dom.banner.textContent =
    state.health === 'offline' ? tr('offline_banner') : state.health === 'unreachable' ? tr('unreachable_banner') : '';
}

// ---------------------------------------------------------------------------------------------
// HTTP

class NetworkError extends Error {}

async function api(method, path, body) {
  const controller = new AbortController();
  const timeout = setTimeout(() => controller.abort(), setting('CUBBY_KIOSK_REQUEST_TIMEOUT_MS', 30_000));
  try {
    const res = await fetch(path, {
      method,
      headers: body === undefined ? { accept: 'application/json' } : { 'content-type': 'application/json', accept: 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'same-origin',
      signal: controller.signal,
    });
    let json = null;
    try {
      json = await res.json();
    } catch {
      json = null;
    }
    return { status: res.status, ok: res.ok, json, headers: res.headers };
  } catch (err) {
    throw new NetworkError(String(err));
  } finally {
    clearTimeout(timeout);
  }
}

/** API.md's error shape, tolerant of anything else. */
function errorOf(res) {
  const e = res.json && typeof res.json === 'object' ? res.json.error : null;
  return e && typeof e === 'object' ? e : {};
}

const message = (e) => (typeof e.message === 'string' && e.message.trim() ? e.message.trim() : '');

// ---------------------------------------------------------------------------------------------
// Pickup

const formatCode = (digits) => (digits.length > 3 ? `${digits.slice(0, 3)}-${digits.slice(3)}` : digits);

function setDigits(digits) {
  state.digits = digits;
  dom.code.textContent = formatCode(digits);
  dom.code.dataset.length = String(digits.length);
}

function pressKey(key) {
  if (state.mode !== 'pickup' || state.busy || isThrottled()) return;
  clearTimeout(timers.reset);
  // typing starts a new attempt: the previous outcome goes away
  if (state.outcome && /^\d$/.test(key)) {
    state.outcome = null;
    renderMessage();
  }
  if (/^\d$/.test(key)) {
    if (state.digits.length < CODE_DIGITS) setDigits(state.digits + key);
  } else if (key === 'back') {
    setDigits(state.digits.slice(0, -1));
  } else if (key === 'clear') {
    setDigits('');
    if (state.outcome) clearOutcome();
  } else if (key === 'ok') {
    void submitPickup(state.digits);
    return;
  }
  // an abandoned half-typed code is wiped after the reset delay
  timers.reset = setTimeout(() => clearOutcome(), setting('CUBBY_KIOSK_RESET_MS', 10_000));
}

/**
 * The one pickup path, for the keypad, the physical keyboard, the camera and injected QR payloads.
 * A QR payload goes to the hub as `{ qr }` (it checks the bank and audits the pickup as a QR
 * pickup), a typed code as `{ code: 'SSS-VVVVVV' }`.
 */
async function submitPickup(rawDigits, qrPayload) {
  if (state.mode !== 'pickup' || state.busy) return state.outcome?.key ?? '';
  if (isThrottled()) return 'throttled';
  const digits = String(rawDigits ?? '').replace(/[\s.-]/g, '');
  setDigits(''); // off the screen at once, whatever happens next
  if (!/^\d{9}$/.test(digits)) {
    showOutcome({ key: 'malformed_code' });
    return 'malformed_code';
  }
  const body = qrPayload ? { qr: qrPayload } : { code: formatCode(digits) };
  state.busy = true;
  showOutcome({ key: 'busy', textKey: 'busy_pickup' }, { autoReset: false });
  renderControls();
  let res = null;
  try {
    res = await api('POST', '/api/pickup', body);
  } catch {
    res = null;
  }
  state.busy = false;
  const outcome = pickupOutcome(res);
  if (outcome.key === 'throttled') startThrottle(outcome.retryAfterSeconds);
  else showOutcome(outcome);
  renderControls();
  return outcome.key;
}

function pickupOutcome(res) {
  if (!res) return { key: 'error' };
  if (res.ok) {
    const n = res.json?.compartment;
    return n === undefined || n === null ? { key: 'error' } : { key: 'opened', params: { n } };
  }
  const e = errorOf(res);
  const code = typeof e.code === 'string' ? e.code : '';
  switch (code) {
    case 'invalid_code': {
      const left = Number(e.attemptsLeft);
      if (!Number.isFinite(left) || e.attemptsLeft === null || e.attemptsLeft === undefined) return { key: code };
      return { key: code, textKey: left === 1 ? 'invalid_code_one' : 'invalid_code_other', params: { n: left } };
    }
    case 'throttled':
      return { key: code, retryAfterSeconds: retryAfter(e, res) };
    case 'code_expired':
    case 'code_revoked':
    case 'code_used':
    case 'malformed_code':
      return { key: code };
    case 'wrong_locker':
      return { key: 'wrong_bank', textKey: 'wrong_locker' };
    case 'door_fault': {
      const n = e.compartment;
      const known = n !== undefined && n !== null && n !== '';
      return { key: code, textKey: known ? 'door_fault' : 'door_fault_unknown', params: { n }, detail: message(e) };
    }
    default:
      if (res.status === 429) return { key: 'throttled', retryAfterSeconds: retryAfter(e, res) };
      // unknown reason: the server's own sentence beats a vague one
      return { key: 'error', errorCode: code || undefined, raw: message(e) || undefined };
  }
}

function retryAfter(e, res) {
  const fromBody = Number(e.retryAfterSeconds);
  if (Number.isFinite(fromBody) && fromBody > 0) return fromBody;
  const fromHeader = Number(res.headers?.get('retry-after'));
  return Number.isFinite(fromHeader) && fromHeader > 0 ? fromHeader : 60;
}

/** A decoded QR payload `cubby:<bankId>:<SSS-VVVVVV>` (or a bare code) into the pickup path. */
function handleQr(text) {
  if (state.mode !== 'pickup') return Promise.resolve('ignored');
  if (state.busy) return Promise.resolve('busy');
  if (isThrottled()) return Promise.resolve('throttled');
  const payload = String(text ?? '').trim();
  const m = /^cubby:([A-Za-z0-9_.-]{1,64}):([0-9\s.-]{9,20})$/.exec(payload);
  if (m) {
    if (state.bankId && m[1] !== state.bankId) {
      // the hub would refuse it too (wrong_locker); say which locker it belongs to
      setDigits('');
      showOutcome({ key: 'wrong_bank', params: { bankId: m[1], here: state.bankId } });
      return Promise.resolve('wrong_bank');
    }
    return submitPickup(m[2], payload);
  }
  // a scanner that read the plain code (e.g. from the text of the message)
  if (/^[0-9][0-9\s.-]{8,19}$/.test(payload)) return submitPickup(payload);
  setDigits('');
  showOutcome({ key: 'qr_invalid' });
  return Promise.resolve('qr_invalid');
}

// ---------------------------------------------------------------------------------------------
// QR via camera (BarcodeDetector), else the hub's hardware scanner

const scanner = { stream: null, frame: 0, stopAt: 0 };

async function startScan() {
  if (state.mode !== 'pickup' || state.busy || isThrottled()) return;
  const canCamera = 'BarcodeDetector' in window && navigator.mediaDevices?.getUserMedia;
  let detector = null;
  if (canCamera) {
    try {
      const formats = (await window.BarcodeDetector.getSupportedFormats?.()) ?? ['qr_code'];
      if (formats.includes('qr_code')) detector = new window.BarcodeDetector({ formats: ['qr_code'] });
    } catch {
      detector = null;
    }
  }
  if (!detector) {
    showOutcome({ key: 'scan_hint' });
    return;
  }
  try {
    scanner.stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'user' }, audio: false });
  } catch {
    showOutcome({ key: 'scan_hint' });
    return;
  }
  dom.scannerVideo.srcObject = scanner.stream;
  dom.scanner.hidden = false;
  setBackgroundInert(true); // a modal: Tab stays inside it
  dom.scannerCancel.focus();
  scanner.stopAt = Date.now() + 60_000;
  try {
    await dom.scannerVideo.play();
  } catch {
    /* autoplay of a muted stream is allowed; ignore */
  }
  const loop = async () => {
    if (!scanner.stream) return;
    if (Date.now() > scanner.stopAt) return stopScan();
    try {
      const found = await detector.detect(dom.scannerVideo);
      const raw = found.find((b) => b.rawValue)?.rawValue;
      if (raw) {
        stopScan();
        void handleQr(raw);
        return;
      }
    } catch {
      /* frame not ready */
    }
    scanner.frame = setTimeout(loop, 200);
  };
  void loop();
}

function setBackgroundInert(inert) {
  for (const node of document.querySelectorAll('body > header, body > main')) node.inert = inert;
}

function stopScan() {
  clearTimeout(scanner.frame);
  for (const track of scanner.stream?.getTracks() ?? []) track.stop();
  scanner.stream = null;
  dom.scannerVideo.srcObject = null;
  if (!dom.scanner.hidden) {
    dom.scanner.hidden = true;
    setBackgroundInert(false);
    if (!dom.scan.disabled) dom.scan.focus({ preventScroll: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Courier mode

const COURIER_ERRORS = {
  invalid_credentials: 'courier_unauthorized',
  unauthorized: 'courier_unauthorized',
  already_deposited: 'courier_already_deposited',
  no_free_compartment: 'courier_no_compartment',
  door_not_closed: 'courier_door_not_closed',
  parcel_not_detected: 'courier_parcel_not_detected',
  deposit_not_found: 'courier_deposit_unknown',
};

/** A courier-side error: our own words for the reasons we know, the hub's sentence otherwise. */
function courierError(res, compartment) {
  if (!res) return { key: 'error' };
  const e = errorOf(res);
  const code = typeof e.code === 'string' ? e.code : '';
  const textKey = COURIER_ERRORS[code] ?? (res.status === 401 ? 'courier_unauthorized' : null);
  if (textKey) return { key: 'error', errorCode: code || undefined, textKey, params: { n: e.compartment ?? compartment ?? '' } };
  return { key: 'error', errorCode: code || undefined, raw: message(e) || undefined };
}

function setMode(mode) {
  if (mode === state.mode) return;
  stopScan();
  clearTimeout(timers.courierIdle);
  state.mode = mode;
  setDigits('');
  if (mode === 'courier') {
    state.outcome = null;
    renderMessage();
    touchCourier();
  } else {
    state.deposit = null;
    dom.courierForm.reset();
    clearOutcome();
  }
  renderMode();
  renderControls();
  (mode === 'courier' ? dom.courierId : dom.keypad.querySelector('[data-key="1"]')).focus({ preventScroll: true });
}

/** Any courier interaction keeps courier mode open; a forgotten session closes itself (and forgets the secret). */
function touchCourier() {
  clearTimeout(timers.courierIdle);
  if (state.mode !== 'courier') return;
  timers.courierIdle = setTimeout(() => {
    if (state.deposit === null && !state.busy) setMode('pickup');
    else touchCourier();
  }, setting('CUBBY_KIOSK_COURIER_IDLE_MS', 120_000));
}

async function submitDeposit(event) {
  event.preventDefault();
  if (state.busy || state.deposit) return;
  touchCourier();
  const body = {
    courierId: dom.courierId.value.trim(),
    secret: dom.courierSecret.value,
    parcelId: dom.parcelId.value.trim(),
    size: dom.parcelSize.value,
  };
  if (!body.courierId || !body.secret || !body.parcelId || !body.size) {
    showOutcome({ key: 'error', errorCode: 'incomplete', textKey: 'courier_incomplete' });
    return;
  }
  state.busy = true;
  showOutcome({ key: 'busy', textKey: 'busy_deposit' }, { autoReset: false });
  renderControls();
  let res = null;
  try {
    res = await api('POST', '/api/courier/deposit', body);
  } catch {
    res = null;
  }
  state.busy = false;
  if (res?.ok && res.json?.depositId !== undefined && res.json?.compartment !== undefined) {
    state.deposit = { depositId: String(res.json.depositId), compartment: res.json.compartment };
    showOutcome({ key: 'deposit_open', params: { n: state.deposit.compartment } }, { autoReset: false });
    renderMode();
    renderControls();
    dom.courierDone.focus({ preventScroll: true });
  } else {
    showOutcome(courierError(res));
    renderControls();
  }
}

async function confirmDeposit() {
  if (state.busy || !state.deposit) return;
  touchCourier();
  const { depositId, compartment } = state.deposit;
  state.busy = true;
  showOutcome({ key: 'busy', textKey: 'busy_confirm' }, { autoReset: false });
  renderControls();
  let res = null;
  try {
    res = await api('POST', `/api/courier/deposit/${encodeURIComponent(depositId)}/confirm`);
  } catch {
    res = null;
  }
  state.busy = false;
  if (res?.ok) {
    state.deposit = null;
    dom.parcelId.value = '';
    showOutcome({ key: 'deposited', params: { n: res.json?.compartment ?? compartment } });
    renderMode();
    renderControls();
    dom.parcelId.focus({ preventScroll: true });
    return;
  }
  const outcome = courierError(res, compartment);
  // the deposit is gone at the hub (unknown, already confirmed): back to the form; otherwise
  // (door still open, network trouble) the courier closes the door and presses Done again
  const gone = res && (res.status === 404 || res.status === 410 || outcome.textKey === 'courier_deposit_unknown');
  if (gone) state.deposit = null;
  showOutcome(outcome, { autoReset: gone });
  renderMode();
  renderControls();
  (gone ? dom.courierSubmit : dom.courierDone).focus({ preventScroll: true });
}

// ---------------------------------------------------------------------------------------------
// Health: bank id in the corner, discreet banner when the hub is offline (pickups still work)

async function refreshHealth() {
  clearTimeout(timers.health);
  try {
    const res = await api('GET', '/health');
    const h = res.json;
    if (!res.ok || !h || typeof h !== 'object') throw new Error('bad health');
    if (typeof h.bankId === 'string' && h.bankId) state.bankId = h.bankId;
    state.health = h.online === false ? 'offline' : 'online';
  } catch {
    state.health = 'unreachable';
  }
  renderBank();
  timers.health = setTimeout(refreshHealth, setting('CUBBY_KIOSK_HEALTH_MS', 5_000));
  return state.health;
}

// ---------------------------------------------------------------------------------------------
// Wiring

dom.keypad.addEventListener('click', (event) => {
  const button = event.target.closest('[data-key]');
  if (button && !button.disabled) pressKey(button.dataset.key);
});

document.addEventListener('keydown', (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (!dom.scanner.hidden) {
    if (event.key === 'Escape') stopScan();
    return;
  }
  if (state.mode === 'courier') {
    touchCourier();
    return;
  }
  const target = event.target;
  if (target instanceof HTMLInputElement || target instanceof HTMLSelectElement) return;
  const key = { Backspace: 'back', Escape: 'clear' }[event.key] ?? (/^[0-9]$/.test(event.key) ? event.key : null);
  if (key) {
    event.preventDefault();
    // typing goes to the code display, like into a text field; a following Enter then submits
    // instead of activating whichever button happened to have focus
    if (target instanceof HTMLButtonElement) dom.code.focus({ preventScroll: true });
    pressKey(key);
  } else if (event.key === 'Enter' && !(target instanceof HTMLButtonElement)) {
    // on a focused button Enter activates that button, as it should
    event.preventDefault();
    pressKey('ok');
  }
});

dom.langToggle.addEventListener('click', () => {
  state.lang = dom.langToggle.dataset.lang;
  applyLanguage();
});
dom.courierMode.addEventListener('click', () => setMode(state.mode === 'courier' ? 'pickup' : 'courier'));
dom.scan.addEventListener('click', () => void startScan());
dom.scannerCancel.addEventListener('click', () => stopScan());
dom.courierForm.addEventListener('submit', (event) => void submitDeposit(event));
dom.courierForm.addEventListener('input', () => touchCourier());
dom.courierDone.addEventListener('click', () => void confirmDeposit());
// a kiosk: no long-press menus
document.addEventListener('contextmenu', (event) => event.preventDefault());

dom.code.tabIndex = -1; // focusable from script only: where typed digits and a parked focus go

window.cubbyKiosk = Object.freeze({
  /** Feed a decoded QR payload into the pickup path; resolves to the outcome key. */
  injectQr: (text) => handleQr(text),
  setLanguage(lang) {
    if (!LANGUAGES.includes(lang)) throw new Error(`unsupported language ${lang}`);
    state.lang = lang;
    applyLanguage();
  },
  /** Back to the idle pickup screen (a throttle lock-out stays). */
  reset() {
    stopScan();
    if (state.mode !== 'pickup' && state.deposit === null) setMode('pickup');
    clearOutcome();
  },
  refreshHealth: () => refreshHealth(),
  state: () => ({
    mode: state.mode,
    lang: state.lang,
    outcome: state.outcome?.key ?? '',
    busy: state.busy,
    throttledForMs: Math.max(0, state.throttledUntil - Date.now()),
    bankId: state.bankId,
    health: state.health,
    digits: state.digits.length, // how many, never which
  }),
});

applyLanguage();
setDigits('');
renderControls();
void refreshHealth();
