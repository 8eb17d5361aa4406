/**
 * `GET /help`: the recipient's "my code did not arrive" page. One form (parcel number, last
 * four digits of the phone number), one answer in plain words from
 * `POST /v1/self-service/diagnosis`. No framework, no external resource; answers are
 * written with `textContent` only.
 */
export const HELP_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Cubby — where is my pickup code?</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; margin: 0; background: #f4f5f7; color: #1d232b; }
  main { max-width: 28rem; margin: 3rem auto; background: #fff; padding: 2rem; border-radius: 12px; box-shadow: 0 2px 10px #0001; }
  h1 { font-size: 1.4rem; margin-top: 0; }
  label { display: block; margin-top: 1rem; font-weight: 600; }
  input { width: 100%; box-sizing: border-box; font-size: 1.1rem; padding: .6rem; margin-top: .3rem; border: 1px solid #b9c0c8; border-radius: 8px; }
  button { margin-top: 1.4rem; width: 100%; font-size: 1.1rem; padding: .7rem; border: 0; border-radius: 8px; background: #1f6feb; color: #fff; cursor: pointer; }
  button:disabled { opacity: .6; }
  #answer { margin-top: 1.4rem; padding: 1rem; border-radius: 8px; background: #eef4ff; min-height: 1.5rem; }
  #answer.error { background: #fdecec; }
  #answer:empty { display: none; }
</style>
</head>
<body>
<main>
  <h1>Where is my pickup code?</h1>
  <p>Enter your parcel number and the last four digits of the phone number you gave the sender. We check what happened to your parcel and its code.</p>
  <form id="ask">
    <label for="parcelId">Parcel number</label>
    <input id="parcelId" name="parcelId" autocomplete="off" required maxlength="64" pattern="[A-Za-z0-9][A-Za-z0-9_.\\-]*">
    <label for="phoneLast4">Last 4 digits of your phone number</label>
    <input id="phoneLast4" name="phoneLast4" inputmode="numeric" autocomplete="off" required pattern="[0-9]{4}" maxlength="4">
    <button id="go" type="submit">Check</button>
  </form>
  <p id="answer" role="status" aria-live="polite"></p>
</main>
<script>
  const form = document.getElementById('ask');
  const answer = document.getElementById('answer');
  const go = document.getElementById('go');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    go.disabled = true;
    answer.className = '';
    answer.textContent = 'Checking…';
    try {
      const res = await fetch('/v1/self-service/diagnosis', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ parcelId: form.parcelId.value.trim(), phoneLast4: form.phoneLast4.value.trim() }),
      });
      const body = await res.json();
      if (res.ok) answer.textContent = body.message;
      else {
        answer.className = 'error';
        answer.textContent = body.error && body.error.message ? body.error.message : 'Something went wrong. Please try again.';
      }
    } catch {
      answer.className = 'error';
      answer.textContent = 'We could not reach Cubby. Please check your connection and try again.';
    } finally {
      go.disabled = false;
    }
  });
</script>
</body>
</html>
`;
