// Lookout's admin UI: the pages work without this script; it refreshes
// them on request and previews a silence as its matchers are typed.
(function () {
  'use strict';
  const box = document.getElementById('autorefresh');
  if (box) {
    box.checked = localStorage.getItem('lookout.refresh') === '1';
    let timer = null;
    const arm = () => {
      clearTimeout(timer);
      if (box.checked) timer = setTimeout(() => location.reload(), 30000);
    };
    box.addEventListener('change', () => {
      localStorage.setItem('lookout.refresh', box.checked ? '1' : '0');
      arm();
    });
    arm();
  }
  const form = document.getElementById('silence-form');
  const preview = document.getElementById('preview');
  if (form && preview) {
    let pending = null;
    const update = () => {
      const params = new URLSearchParams();
      for (const input of form.querySelectorAll('input.matcher')) {
        if (input.value.trim() !== '') params.append('matcher', input.value);
      }
      if ([...params.keys()].length === 0) { preview.textContent = ''; return; }
      fetch('/silences/preview?' + params.toString(), {credentials: 'same-origin'})
        .then((r) => r.text())
        .then((html) => { preview.innerHTML = html; })
        .catch(() => {});
    };
    form.addEventListener('input', (e) => {
      if (!e.target.classList.contains('matcher')) return;
      clearTimeout(pending);
      pending = setTimeout(update, 300);
    });
  }
})();
