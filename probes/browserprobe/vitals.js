// Lookout's measurement of a page, added to every document of a run before
// the page's own scripts (Page.addScriptToEvaluateOnNewDocument). It
// follows the definitions of the web-vitals library and Lighthouse, from
// the browser's buffered PerformanceObserver entries, and reports through
// the binding `binding` as "DOC|JSON" whenever something changed and when
// the page is left; window[flush]() reports once more and returns the same.
// All times are milliseconds from the document's time origin.
(function (binding, flush) {
  if (window.top !== window) return; // the top document only
  const send = window[binding];
  if (typeof send !== 'function') return;
  try {
    delete window[binding]; // the page has no use for it
  } catch (e) {}
  const doc = Math.random().toString(36).slice(2, 10);
  const m = {
    activation: 0,
    ttfb: -1,
    fcp: -1, // from activationStart (web-vitals)
    fcpAt: -1, // from the time origin (Lighthouse's TBT)
    lcp: -1,
    firstInput: Infinity,
    session: { value: 0, first: 0, last: 0 },
    cls: 0,
    longTasks: [], // [start, duration]
    interactions: new Map(), // interactionId -> longest duration
    csp: 0,
    cspFirst: [],
  };

  const snapshot = () => {
    if (m.ttfb < 0) {
      const nav = performance.getEntriesByType('navigation')[0];
      if (nav && nav.responseStart > 0) navigation(nav);
    }
    // TBT (Lighthouse): the time beyond 50 ms of each long task, counting
    // only its part after FCP, up to now (the end of the run).
    let tbt = 0;
    if (m.fcpAt >= 0) {
      for (const [start, duration] of m.longTasks) {
        const blocking = start + duration - Math.max(start, m.fcpAt);
        if (blocking > 50) tbt += blocking - 50;
      }
    }
    // INP (web-vitals): the longest interaction, or with many of them the
    // one at the 98th percentile (one left out per 50).
    const latencies = [...m.interactions.values()].sort((a, b) => b - a);
    const count = Math.max(performance.interactionCount || 0, latencies.length);
    const inp = latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(count / 50))] : 0;
    return doc + '|' + JSON.stringify({
      ttfb: m.ttfb, fcp: m.fcp, lcp: m.lcp, cls: m.cls, tbt, inp,
      interactions: latencies.length, csp: m.csp, cspFirst: m.cspFirst,
    });
  };
  const report = () => {
    const s = snapshot();
    try {
      send(s);
    } catch (e) {}
    return s;
  };

  const navigation = (e) => {
    m.activation = e.activationStart || 0;
    m.ttfb = Math.max(e.responseStart - m.activation, 0);
  };
  const observers = [];
  const observe = (type, each, options) => {
    try {
      const o = new PerformanceObserver((list) => {
        list.getEntries().forEach(each);
        report();
      });
      o.observe(Object.assign({ type, buffered: true }, options));
      observers.push([o, each]);
    } catch (e) {} // an entry type this browser does not have
  };
  observe('navigation', navigation);
  observe('paint', (e) => {
    if (e.name === 'first-contentful-paint') {
      m.fcpAt = e.startTime;
      m.fcp = Math.max(e.startTime - m.activation, 0);
    }
  });
  // LCP (web-vitals): the last candidate rendered before the first input.
  observe('largest-contentful-paint', (e) => {
    if (e.startTime < m.firstInput) m.lcp = Math.max(e.startTime - m.activation, 0);
  });
  // CLS (web-vitals): the largest session window of layout shifts not
  // caused by input, a window ending at a gap of 1 s or after 5 s.
  observe('layout-shift', (e) => {
    if (e.hadRecentInput) return;
    const s = m.session;
    if (s.value && e.startTime - s.last < 1000 && e.startTime - s.first < 5000) {
      s.value += e.value;
      s.last = e.startTime;
    } else {
      s.value = e.value;
      s.first = s.last = e.startTime;
    }
    m.cls = Math.max(m.cls, s.value);
  });
  observe('longtask', (e) => {
    if (m.longTasks.length < 10000) m.longTasks.push([e.startTime, e.duration]);
  });
  const interaction = (e) => {
    if (!e.interactionId) return;
    const was = m.interactions.get(e.interactionId);
    if (was === undefined && m.interactions.size >= 1000) return;
    m.interactions.set(e.interactionId, Math.max(was || 0, e.duration));
  };
  observe('event', interaction, { durationThreshold: 16 });
  observe('first-input', interaction);

  const input = (e) => {
    if (e.isTrusted && e.timeStamp < m.firstInput) m.firstInput = e.timeStamp;
  };
  for (const type of ['keydown', 'pointerdown', 'mousedown', 'touchstart']) {
    addEventListener(type, input, { capture: true, passive: true });
  }
  document.addEventListener('securitypolicyviolation', (e) => {
    m.csp++;
    if (m.cspFirst.length < 5) {
      const what = e.blockedURI || 'inline code';
      m.cspFirst.push(e.effectiveDirective + (e.disposition === 'report' ? ' (report only)' : '') + ' blocked ' + what);
    }
    report();
  });
  addEventListener('pagehide', report, { capture: true });
  // The flush lets the page render what it has (two frames, or 200 ms in
  // a page that renders none), takes the entries not delivered yet, and
  // reports.
  Object.defineProperty(window, flush, {
    value: () => new Promise((resolve) => {
      const done = () => {
        for (const [o, each] of observers) o.takeRecords().forEach(each);
        resolve(report());
      };
      const timer = setTimeout(done, 200);
      requestAnimationFrame(() => requestAnimationFrame(() => {
        clearTimeout(timer);
        setTimeout(done, 50);
      }));
    }),
  });
})
