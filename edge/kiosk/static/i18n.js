// Every piece of text on the kiosk screen lives here, in English and German.
// Placeholders are `{name}`; kiosk.js fills them (a placeholder may also receive a DOM node,
// e.g. the live countdown inside the "throttled" message).

/** The languages the screen offers, in toggle order. */
export const LANGUAGES = ['en', 'de'];

export const STRINGS = {
  en: {
    // the name of this language, shown on the toggle button while the *other* language is active
    language_name: 'English',
    lang_toggle_label: 'Switch the language to English',
    page_title: 'Cubby parcel locker',
    bank_label: 'Locker {bankId}',
    offline_banner: 'Offline — pickups still work',
    unreachable_banner: 'The locker controller is not answering',

    pickup_title: 'Pick up a parcel',
    pickup_hint: 'Type the 9-digit code from your message, or scan its QR code.',
    code_label: 'Pickup code',
    keypad_label: 'Keypad',
    key_clear: 'Clear',
    key_clear_label: 'Clear the code',
    key_back_label: 'Delete the last digit',
    key_ok: 'OK',
    key_ok_label: 'OK, open my compartment',
    scan_qr: 'Scan QR',
    scan_camera_hint: 'Hold the QR code in front of the camera',
    scan_cancel: 'Cancel',

    courier_mode: 'Courier',
    courier_exit: 'Back to pickup',
    courier_title: 'Courier deposit',
    courier_hint: 'Sign in and enter the parcel; a free compartment of the right size opens.',
    courier_id: 'Courier ID',
    courier_secret: 'Secret',
    parcel_id: 'Parcel ID',
    parcel_size: 'Size',
    size_S: 'S — small',
    size_M: 'M — medium',
    size_L: 'L — large',
    courier_submit: 'Open a compartment',
    courier_done: 'Done',

    busy_pickup: 'Checking your code…',
    busy_deposit: 'Opening a compartment…',
    busy_confirm: 'Checking the door…',

    opened: 'Compartment {n} is open — take your parcel and close the door',
    invalid_code: 'Wrong code — check the message you received and try again',
    invalid_code_one: 'Wrong code — 1 attempt left',
    invalid_code_other: 'Wrong code — {n} attempts left',
    throttled: 'Too many attempts — try again in {time}',
    code_expired: 'This code has expired. The parcel is being returned — please contact the sender.',
    code_revoked: 'This code is no longer valid. Use the newest code you received, or ask support to resend it.',
    code_used: 'This code was already used — the parcel has already been collected.',
    door_fault: 'Compartment {n} did not open. Your code is still valid. Try again or call support.',
    door_fault_unknown: 'The compartment did not open. Your code is still valid. Try again or call support.',
    malformed_code: 'A code has 9 digits',
    error: 'The locker is having trouble right now. Please try again in a moment, or call support.',
    scan_hint: 'Hold your code under the scanner',
    qr_invalid: 'This QR code is not a Cubby pickup code',
    wrong_bank: 'This code is for locker {bankId}. You are at locker {here}.',
    wrong_locker: 'This code is for another locker.',

    deposit_open: 'Put the parcel in compartment {n} and close the door, then press Done',
    deposited: 'Deposited. The recipient gets their code.',
    courier_incomplete: 'Please fill in every field.',
    courier_unauthorized: 'Courier ID or secret is wrong.',
    courier_no_compartment: 'There is no free compartment for this parcel size.',
    courier_door_not_closed: 'The door of compartment {n} is not closed yet. Close it firmly, then press Done again.',
    courier_parcel_not_detected: 'Compartment {n} looks empty. Put the parcel inside, close the door, then press Done again.',
    courier_already_deposited: 'This parcel is already in a compartment.',
    courier_deposit_unknown: 'This deposit is no longer open. Please start again.',
  },
  de: {
    language_name: 'Deutsch',
    lang_toggle_label: 'Sprache auf Deutsch umstellen',
    page_title: 'Cubby Paketstation',
    bank_label: 'Station {bankId}',
    offline_banner: 'Offline — Abholen funktioniert weiterhin',
    unreachable_banner: 'Die Stationssteuerung antwortet nicht',

    pickup_title: 'Paket abholen',
    pickup_hint: 'Geben Sie den 9-stelligen Code aus Ihrer Nachricht ein oder scannen Sie den QR-Code.',
    code_label: 'Abholcode',
    keypad_label: 'Tastenfeld',
    key_clear: 'Löschen',
    key_clear_label: 'Code löschen',
    key_back_label: 'Letzte Ziffer löschen',
    key_ok: 'OK',
    key_ok_label: 'OK, mein Fach öffnen',
    scan_qr: 'QR scannen',
    scan_camera_hint: 'Halten Sie den QR-Code vor die Kamera',
    scan_cancel: 'Abbrechen',

    courier_mode: 'Kurier',
    courier_exit: 'Zurück zum Abholen',
    courier_title: 'Einlieferung durch Kurier',
    courier_hint: 'Melden Sie sich an und geben Sie das Paket ein; ein freies Fach passender Größe öffnet sich.',
    courier_id: 'Kurier-ID',
    courier_secret: 'Kennwort',
    parcel_id: 'Paket-ID',
    parcel_size: 'Größe',
    size_S: 'S — klein',
    size_M: 'M — mittel',
    size_L: 'L — groß',
    courier_submit: 'Fach öffnen',
    courier_done: 'Fertig',

    busy_pickup: 'Ihr Code wird geprüft…',
    busy_deposit: 'Ein Fach wird geöffnet…',
    busy_confirm: 'Die Tür wird geprüft…',

    opened: 'Fach {n} ist offen — entnehmen Sie Ihr Paket und schließen Sie die Tür',
    invalid_code: 'Falscher Code — prüfen Sie Ihre Nachricht und versuchen Sie es erneut',
    invalid_code_one: 'Falscher Code — noch 1 Versuch',
    invalid_code_other: 'Falscher Code — noch {n} Versuche',
    throttled: 'Zu viele Versuche — erneut möglich in {time}',
    code_expired: 'Dieser Code ist abgelaufen. Das Paket geht an den Absender zurück — bitte wenden Sie sich an den Absender.',
    code_revoked: 'Dieser Code ist nicht mehr gültig. Verwenden Sie den neuesten Code, den Sie erhalten haben, oder bitten Sie den Support, ihn erneut zu senden.',
    code_used: 'Dieser Code wurde bereits verwendet — das Paket wurde schon abgeholt.',
    door_fault: 'Fach {n} hat sich nicht geöffnet. Ihr Code ist weiterhin gültig. Versuchen Sie es erneut oder rufen Sie den Support an.',
    door_fault_unknown: 'Das Fach hat sich nicht geöffnet. Ihr Code ist weiterhin gültig. Versuchen Sie es erneut oder rufen Sie den Support an.',
    malformed_code: 'Ein Code hat 9 Ziffern',
    error: 'Die Station hat gerade ein Problem. Bitte versuchen Sie es gleich noch einmal oder rufen Sie den Support an.',
    scan_hint: 'Halten Sie Ihren Code unter den Scanner',
    qr_invalid: 'Dieser QR-Code ist kein Cubby-Abholcode',
    wrong_bank: 'Dieser Code gilt für Station {bankId}. Sie sind an Station {here}.',
    wrong_locker: 'Dieser Code gilt für eine andere Station.',

    deposit_open: 'Legen Sie das Paket in Fach {n}, schließen Sie die Tür und drücken Sie dann Fertig',
    deposited: 'Eingeliefert. Der Empfänger erhält seinen Code.',
    courier_incomplete: 'Bitte füllen Sie alle Felder aus.',
    courier_unauthorized: 'Kurier-ID oder Kennwort ist falsch.',
    courier_no_compartment: 'Für diese Paketgröße ist kein Fach frei.',
    courier_door_not_closed: 'Die Tür von Fach {n} ist noch nicht geschlossen. Schließen Sie sie fest und drücken Sie erneut Fertig.',
    courier_parcel_not_detected: 'Fach {n} scheint leer zu sein. Legen Sie das Paket hinein, schließen Sie die Tür und drücken Sie erneut Fertig.',
    courier_already_deposited: 'Dieses Paket liegt bereits in einem Fach.',
    courier_deposit_unknown: 'Diese Einlieferung ist nicht mehr offen. Bitte beginnen Sie von vorn.',
  },
};

/**
 * The first supported language among the browser's preferences (`navigator.languages`,
 * then `navigator.language`), English otherwise.
 */
export function pickLanguage(preferences) {
  for (const pref of preferences ?? []) {
    const base = String(pref ?? '').toLowerCase().split(/[-_]/)[0];
    if (LANGUAGES.includes(base)) return base;
  }
  return 'en';
}

/** The text of `key` in `lang` (English, then the key itself, as fallbacks); `{name}` filled from params. */
export function t(lang, key, params = {}) {
  const template = STRINGS[lang]?.[key] ?? STRINGS.en[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}
