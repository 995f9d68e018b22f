// Pulso's dashboard: polls the JSON API under api/v1/ and renders the top pages, the
// per-window chart, the window table and the shares of invalid and late events.
//
// URL parameters: range=15m|1h|24h, page=<filter text>, chart=<page> (repeatable: pages to
// chart from the start), lang=pt-BR|en.
//
// Language: Brazilian Portuguese, unless ?lang=en, a choice saved by the language toggle, or a
// browser that lists English before Portuguese in navigator.languages selects English.
// Numbers and dates go through Intl in the chosen locale.
//
// Refresh: one round of requests at a time; the next round starts refresh_interval_ms (from
// /api/v1/status, 2 s by default) after the previous one ended. A control change starts a round
// at once. Page strings come from event producers, so they are only ever set as textContent.
"use strict";

(function () {
  const API = "api/v1/";
  const DEFAULT_REFRESH_MS = 2000;
  const REQUEST_TIMEOUT_MS = 10000;
  const TOP_LIMIT = 20;
  const MAX_CHART_PAGES = 10;
  const MAX_WINDOW_ROWS = 60;
  const MAX_ERROR_CHARS = 240;
  // Steps of the count axes: whole numbers only.
  const COUNT_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7, 2e7, 5e7, 1e8];
  const STORAGE_LANG = "pulso.lang";
  const RANGES = ["15m", "1h", "24h"];
  const PAGE_COLORS = ["#e8590c", "#2f9e44", "#ae3ec9", "#1098ad", "#d6336c", "#f08c00", "#5c940d", "#7048e8", "#c92a2a", "#0b7285"];

  const MESSAGES = {
    "pt-BR": {
      title: "Pulso — painel ao vivo",
      subtitle: "Cliques por página em tempo real",
      language: "Idioma",
      controls: "Filtros",
      summary: "Resumo",
      range: "Período",
      rangeLong: { "15m": "Últimos 15 minutos", "1h": "Última hora", "24h": "Últimas 24 horas" },
      rangeIn: { "15m": "nos últimos 15 minutos", "1h": "na última hora", "24h": "nas últimas 24 horas" },
      filter: "Filtrar páginas",
      filterPlaceholder: "ex.: /produto",
      events: "Eventos",
      clicks: "Cliques",
      time: "Horário",
      invalid: "Inválidos",
      late: "Atrasados",
      duplicate: "Duplicados",
      invalidShare: "Inválidos",
      lateShare: "Atrasados",
      finalBefore: "Final antes de",
      finalNone: "nenhuma janela ainda",
      ofReceived: "{count} de {total} recebidos",
      chartTitleMinute: "Eventos por minuto",
      chartTitleWindow: "Eventos por janela de {size}",
      chartHint: "Toque ou clique em uma página da tabela para compará-la no gráfico.",
      chartEmpty: "Nenhum evento {range}.",
      allEvents: "Todos os eventos",
      clicksAxis: "Cliques",
      partialArea: "Área sombreada: janelas parciais, que ainda podem mudar.",
      removePage: "Remover {page} do gráfico",
      maxPages: "O gráfico mostra até {count} páginas; remova uma antes de adicionar outra.",
      topTitle: "Páginas mais clicadas",
      topHint: "Cliques {range}, variação em relação ao período anterior de mesmo tamanho.",
      page: "Página",
      currentWindow: "Janela atual",
      change: "Variação",
      changeNew: "novo",
      changeNone: "sem mudança",
      topEmpty: "Nenhum clique {range}.",
      topEmptyHint: "As contagens aparecem aqui assim que o processador gravar os primeiros dados.",
      topEmptyFilter: "Nenhuma página contém “{filter}” {range}.",
      selected: "no gráfico",
      windowsTitle: "Janelas",
      windowsHint: "Uma janela é final quando a marca d'água de todas as partições passou do seu fim.",
      windowStart: "Início",
      state: "Estado",
      final: "final",
      partial: "parcial",
      windowsEmpty: "Nenhuma janela com dados {range}.",
      windowsShowing: "Mostrando as {count} janelas mais recentes de {total}.",
      loading: "Carregando…",
      live: "Ao vivo · atualizado às {time}",
      offline: "Sem conexão · dados de {time}",
      offlineNoData: "Sem conexão",
      unavailable: "Dados indisponíveis · dados de {time}",
      unavailableNoData: "Dados indisponíveis",
      errorBanner: "Não foi possível atualizar os dados: {message} Nova tentativa em {seconds} s.",
      networkError: "o servidor não respondeu.",
      timeoutError: "o servidor demorou demais para responder.",
      store: "Fonte: {store}",
      embeddedStore: "SQLite embutido",
      clickTypes: "Cliques = {types}",
      apiDocs: "Documentação da API (OpenAPI)",
    },
    en: {
      title: "Pulso — live dashboard",
      subtitle: "Clicks per page in real time",
      language: "Language",
      controls: "Filters",
      summary: "Summary",
      range: "Range",
      rangeLong: { "15m": "Last 15 minutes", "1h": "Last hour", "24h": "Last 24 hours" },
      rangeIn: { "15m": "in the last 15 minutes", "1h": "in the last hour", "24h": "in the last 24 hours" },
      filter: "Filter pages",
      filterPlaceholder: "e.g. /product",
      events: "Events",
      clicks: "Clicks",
      time: "Time",
      invalid: "Invalid",
      late: "Late",
      duplicate: "Duplicates",
      invalidShare: "Invalid",
      lateShare: "Late",
      finalBefore: "Final before",
      finalNone: "no window yet",
      ofReceived: "{count} of {total} received",
      chartTitleMinute: "Events per minute",
      chartTitleWindow: "Events per {size} window",
      chartHint: "Tap or click a page in the table to compare it on the chart.",
      chartEmpty: "No events {range}.",
      allEvents: "All events",
      clicksAxis: "Clicks",
      partialArea: "Shaded area: partial windows, which can still change.",
      removePage: "Remove {page} from the chart",
      maxPages: "The chart shows up to {count} pages; remove one before adding another.",
      topTitle: "Top pages by clicks",
      topHint: "Clicks {range}, change against the previous range of the same length.",
      page: "Page",
      currentWindow: "Current window",
      change: "Change",
      changeNew: "new",
      changeNone: "no change",
      topEmpty: "No clicks {range}.",
      topEmptyHint: "Counts appear here as soon as the processor stores its first data.",
      topEmptyFilter: "No page contains “{filter}” {range}.",
      selected: "on the chart",
      windowsTitle: "Windows",
      windowsHint: "A window is final once every partition's watermark has passed its end.",
      windowStart: "Start",
      state: "State",
      final: "final",
      partial: "partial",
      windowsEmpty: "No window with data {range}.",
      windowsShowing: "Showing the {count} most recent of {total} windows.",
      loading: "Loading…",
      live: "Live · updated at {time}",
      offline: "Offline · data from {time}",
      offlineNoData: "Offline",
      unavailable: "Data unavailable · data from {time}",
      unavailableNoData: "Data unavailable",
      errorBanner: "Could not refresh the data: {message} Retrying in {seconds} s.",
      networkError: "the server did not respond.",
      timeoutError: "the server took too long to respond.",
      store: "Source: {store}",
      embeddedStore: "embedded SQLite",
      clickTypes: "Clicks = {types}",
      apiDocs: "API documentation (OpenAPI)",
    },
  };

  const $ = (id) => document.getElementById(id);

  const state = {
    lang: "pt-BR",
    locale: "pt-BR",
    range: "15m",
    filter: "",
    chartPages: [],
    status: null,
    top: null,
    windows: null,
    series: null,
    error: null,
    errorKind: null,
    updatedAt: null,
    refreshMs: DEFAULT_REFRESH_MS,
    running: false,
    again: false,
    timer: null,
    notice: null,
  };

  let chart = null;
  let chartKey = "";
  let formats = null;

  // ---- language ----

  function languageOf(tag) {
    const lower = String(tag || "").toLowerCase();
    if (lower === "pt" || lower.startsWith("pt-")) return "pt-BR";
    if (lower === "en" || lower.startsWith("en-")) return "en";
    return null;
  }

  function readStoredLanguage() {
    try {
      return languageOf(window.localStorage.getItem(STORAGE_LANG));
    } catch (error) {
      return null;
    }
  }

  function initialLanguage() {
    const fromUrl = languageOf(new URLSearchParams(window.location.search).get("lang"));
    if (fromUrl) return fromUrl;
    const stored = readStoredLanguage();
    if (stored) return stored;
    const preferred = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language];
    for (const tag of preferred) {
      const lang = languageOf(tag);
      if (lang) return lang;
    }
    return "pt-BR";
  }

  // Returns the Intl locale: pt-BR, or the browser's own English variant (en-GB, ...) when it
  // lists one.
  function localeFor(lang) {
    if (lang === "pt-BR") return "pt-BR";
    const preferred = navigator.languages || [navigator.language];
    const english = preferred.find((tag) => languageOf(tag) === "en" && tag.includes("-"));
    return english || "en-US";
  }

  function setLanguage(lang, remember) {
    state.lang = lang;
    state.locale = localeFor(lang);
    formats = makeFormats(state.locale);
    if (remember) {
      try {
        window.localStorage.setItem(STORAGE_LANG, lang);
      } catch (error) {
        // Storage may be disabled, and then the choice lasts until the page is reloaded.
      }
    }
    document.documentElement.lang = lang;
    $("app").dataset.lang = lang;
    for (const button of document.querySelectorAll("button[data-lang]")) {
      button.setAttribute("aria-pressed", String(button.dataset.lang === lang));
    }
    translateStatic();
    chartKey = "";
    render();
  }

  function t(key, values) {
    const table = MESSAGES[state.lang] || MESSAGES["pt-BR"];
    let text = table[key];
    if (text === undefined) text = MESSAGES["pt-BR"][key];
    if (typeof text !== "string") return text;
    if (values) {
      text = text.replace(/\{(\w+)\}/g, (match, name) => (name in values ? String(values[name]) : match));
    }
    return text;
  }

  function translateStatic() {
    document.title = t("title");
    for (const element of document.querySelectorAll("[data-i18n]")) {
      element.textContent = t(element.dataset.i18n);
    }
    for (const element of document.querySelectorAll("[data-i18n-placeholder]")) {
      element.placeholder = t(element.dataset.i18nPlaceholder);
    }
    for (const element of document.querySelectorAll("[data-i18n-aria-label]")) {
      element.setAttribute("aria-label", t(element.dataset.i18nAriaLabel));
    }
    for (const button of document.querySelectorAll("button[data-range]")) {
      button.setAttribute("aria-label", t("rangeLong")[button.dataset.range]);
    }
  }

  // ---- formatting ----

  function makeFormats(locale) {
    return {
      integer: new Intl.NumberFormat(locale, { maximumFractionDigits: 0 }),
      signed: new Intl.NumberFormat(locale, { maximumFractionDigits: 0, signDisplay: "exceptZero" }),
      compact: new Intl.NumberFormat(locale, { notation: "compact", maximumFractionDigits: 1 }),
      percent: new Intl.NumberFormat(locale, { style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1 }),
      signedPercent: new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 1, signDisplay: "exceptZero" }),
      time: new Intl.DateTimeFormat(locale, { hour: "numeric", minute: "2-digit" }),
      timeSeconds: new Intl.DateTimeFormat(locale, { hour: "numeric", minute: "2-digit", second: "2-digit" }),
      dateTime: new Intl.DateTimeFormat(locale, { day: "2-digit", month: "2-digit", year: "numeric", hour: "numeric", minute: "2-digit" }),
      dayTime: new Intl.DateTimeFormat(locale, { day: "2-digit", month: "2-digit", hour: "numeric", minute: "2-digit" }),
    };
  }

  // Returns the range as the end of a sentence, such as "in the last hour".
  function rangeText() {
    return t("rangeIn")[state.range];
  }

  function windowSizeText(windowMs) {
    const seconds = Math.round(windowMs / 1000);
    if (seconds % 60 === 0) return formats.integer.format(seconds / 60) + " min";
    return formats.integer.format(seconds) + " s";
  }

  // Stored pages are percent-encoded, so they are shown decoded where that is valid UTF-8.
  function displayPage(page) {
    try {
      return decodeURI(page);
    } catch (error) {
      return page;
    }
  }

  function splitPage(page) {
    const text = displayPage(page);
    const match = /^(https?:\/\/[^/]+)(\/.*)?$/i.exec(text);
    if (!match) return { host: "", path: text };
    return { host: match[1].replace(/^https?:\/\//i, ""), path: match[2] || "/" };
  }

  // ---- fetching ----

  async function fetchJson(path, params) {
    const query = new URLSearchParams(params || []).toString();
    const controller = new AbortController();
    const timeout = window.setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
    let response;
    try {
      response = await fetch(API + path + (query ? "?" + query : ""), {
        cache: "no-store",
        headers: { Accept: "application/json" },
        signal: controller.signal,
      });
    } catch (error) {
      throw apiError(error && error.name === "AbortError" ? t("timeoutError") : t("networkError"), "network");
    } finally {
      window.clearTimeout(timeout);
    }
    let body = null;
    try {
      body = await response.json();
    } catch (error) {
      body = null;
    }
    if (!response.ok) {
      const message = body && body.error ? body.error : "HTTP " + response.status;
      throw apiError(message.endsWith(".") ? message : message + ".", "server");
    }
    return body;
  }

  // Builds an Error with `kind`: "network" when the server did not respond, "server" when it
  // responded with an error, such as a 503 from an unavailable store.
  function apiError(message, kind) {
    const error = new Error(message);
    error.kind = kind;
    return error;
  }

  async function refresh() {
    if (state.running) {
      state.again = true;
      return;
    }
    window.clearTimeout(state.timer);
    state.running = true;
    state.again = false;
    const range = state.range;
    const filter = state.filter;
    const pages = state.chartPages.slice();
    try {
      const seriesParams = [["range", range]].concat(pages.map((page) => ["page", page]));
      const [status, top, windows, series] = await Promise.all([
        fetchJson("status"),
        fetchJson("top-pages", [["range", range], ["page", filter], ["limit", String(TOP_LIMIT)]]),
        fetchJson("windows", [["range", range]]),
        fetchJson("series", seriesParams),
      ]);
      // A control changed while the requests ran, so the responses are dropped and a new round
      // starts at once.
      if (range !== state.range || filter !== state.filter || pages.join("\n") !== state.chartPages.join("\n")) {
        state.again = true;
      } else {
        Object.assign(state, { status, top, windows, series, error: null, updatedAt: Date.now() });
        if (status.refresh_interval_ms > 0) state.refreshMs = status.refresh_interval_ms;
      }
    } catch (error) {
      state.error = error.message || String(error);
      state.errorKind = error.kind || "server";
    } finally {
      state.running = false;
      render();
      if (state.again) {
        refresh();
      } else {
        state.timer = window.setTimeout(refresh, state.refreshMs);
      }
    }
  }

  // ---- rendering ----

  function render() {
    const app = $("app");
    const hasData = state.top !== null;
    if (state.error) {
      app.dataset.state = "error";
    } else {
      app.dataset.state = hasData ? "ready" : "loading";
    }
    app.dataset.range = state.range;
    if (state.updatedAt) app.dataset.updatedAt = String(state.updatedAt);
    for (const button of document.querySelectorAll("button[data-range]")) {
      button.setAttribute("aria-pressed", String(button.dataset.range === state.range));
    }
    renderLive();
    renderError();
    renderKpis();
    renderChart();
    renderTopPages();
    renderWindows();
    renderFooter();
  }

  function renderLive() {
    const live = $("live");
    let text;
    if (state.error) {
      live.dataset.state = "error";
      const key = state.errorKind === "network" ? "offline" : "unavailable";
      text = state.updatedAt ? t(key, { time: formats.timeSeconds.format(state.updatedAt) }) : t(key + "NoData");
    } else if (state.updatedAt) {
      live.dataset.state = "live";
      text = t("live", { time: formats.timeSeconds.format(state.updatedAt) });
    } else {
      live.dataset.state = "loading";
      text = t("loading");
    }
    $("live-text").textContent = text;
  }

  function renderError() {
    const banner = $("error");
    if (!state.error && !state.notice) {
      banner.hidden = true;
      return;
    }
    banner.hidden = false;
    banner.dataset.kind = state.error ? "error" : "notice";
    if (!state.error) {
      banner.textContent = state.notice;
      banner.title = "";
      return;
    }
    // The banner cuts a long store message, and its title attribute keeps all of it.
    const message = state.error.length > MAX_ERROR_CHARS ? state.error.slice(0, MAX_ERROR_CHARS - 1) + "…" : state.error;
    banner.textContent = t("errorBanner", { message, seconds: formats.integer.format(Math.ceil(state.refreshMs / 1000)) });
    banner.title = state.error;
  }

  function setKpi(id, value, text, note) {
    const card = $(id);
    card.dataset.value = value === null || value === undefined ? "" : String(value);
    card.querySelector(".kpi-value").textContent = text;
    card.querySelector(".kpi-note").textContent = note || "";
  }

  function renderKpis() {
    const windows = state.windows;
    if (!windows) return;
    const totals = windows.totals;
    const inRange = rangeText();
    setKpi("kpi-events", totals.events, formats.integer.format(totals.events), inRange);
    setKpi("kpi-clicks", totals.clicks, formats.integer.format(totals.clicks), inRange);
    const share = (value) => (value === null ? "–" : formats.percent.format(value));
    const received = formats.integer.format(totals.received);
    setKpi("kpi-invalid", totals.invalid_share, share(totals.invalid_share), t("ofReceived", { count: formats.integer.format(totals.invalid), total: received }));
    setKpi("kpi-late", totals.late_share, share(totals.late_share), t("ofReceived", { count: formats.integer.format(totals.late), total: received }));
    const finalBefore = state.status ? state.status.final_before_ms : null;
    if (finalBefore === null || finalBefore === undefined) {
      setKpi("kpi-final", null, "–", t("finalNone"));
    } else {
      // Shown as the end of the newest final window, so "up to 21:35" means the window that ends
      // at 21:35 is final. data-value keeps the exact watermark.
      const windowMs = state.status.window_ms;
      const lastFinalEnd = finalBefore - (((finalBefore % windowMs) + windowMs) % windowMs);
      setKpi("kpi-final", finalBefore, formats.time.format(lastFinalEnd), formats.dateTime.format(lastFinalEnd));
    }
  }

  function pageColor(page) {
    const index = state.chartPages.indexOf(page);
    return index < 0 ? null : PAGE_COLORS[index % PAGE_COLORS.length];
  }

  function renderTopPages() {
    const table = $("top-pages");
    const body = table.tBodies[0];
    const empty = $("top-empty");
    $("top-hint").textContent = t("topHint", { range: rangeText() });
    const top = state.top;
    if (!top) {
      table.dataset.state = state.error ? "error" : "loading";
      if (!body.querySelector(".skeleton")) body.replaceChildren(...skeletonRows(table, 5));
      return;
    }
    table.dataset.range = top.range;
    table.dataset.fromMs = String(top.from_ms);
    table.dataset.toMs = String(top.to_ms);
    table.dataset.filter = top.page_filter || "";
    table.dataset.state = top.pages.length ? "ready" : "empty";
    body.replaceChildren(...top.pages.map(topPageRow));
    if (top.pages.length) {
      empty.hidden = true;
    } else {
      empty.hidden = false;
      const title = state.filter ? t("topEmptyFilter", { filter: state.filter, range: rangeText() }) : t("topEmpty", { range: rangeText() });
      empty.replaceChildren(element("p", "empty-title", title), element("p", "empty-hint", state.filter ? "" : t("topEmptyHint")));
    }
  }

  function topPageRow(item) {
    const row = document.createElement("tr");
    row.className = "page-row";
    row.tabIndex = 0;
    row.dataset.page = item.page;
    row.dataset.clicks = String(item.clicks);
    row.dataset.previousClicks = String(item.previous_clicks);
    row.dataset.currentClicks = String(item.current_window_clicks);
    const color = pageColor(item.page);
    row.setAttribute("aria-selected", String(color !== null));

    const pageCell = element("td", "col-page");
    const swatch = element("span", "swatch");
    if (color) swatch.style.backgroundColor = color;
    const parts = splitPage(item.page);
    const label = element("span", "page-label");
    label.title = displayPage(item.page);
    label.append(element("span", "page-path", parts.path));
    if (parts.host) label.append(element("span", "page-host", parts.host));
    pageCell.append(swatch, label);
    if (color) pageCell.append(element("span", "visually-hidden", " (" + t("selected") + ")"));

    row.append(
      pageCell,
      element("td", "num col-current", formats.integer.format(item.current_window_clicks)),
      element("td", "num col-clicks", formats.integer.format(item.clicks)),
      changeCell(item),
    );
    return row;
  }

  function changeCell(item) {
    const cell = element("td", "num col-change");
    const badge = element("span", "change");
    if (item.previous_clicks === 0 && item.clicks > 0) {
      badge.classList.add("up");
      badge.textContent = t("changeNew");
    } else if (item.change === 0) {
      badge.classList.add("flat");
      badge.textContent = "=";
      badge.title = t("changeNone");
    } else {
      // On narrow screens CSS hides the absolute change and keeps the arrow and the ratio.
      badge.classList.add(item.change > 0 ? "up" : "down");
      badge.append(element("span", "change-arrow", item.change > 0 ? "▲" : "▼"), element("span", "change-abs", formats.signed.format(item.change)));
      if (item.change_ratio !== null) {
        badge.append(element("span", "change-ratio", formats.signedPercent.format(item.change_ratio)));
      } else {
        badge.classList.add("no-ratio");
      }
      badge.title = formats.signed.format(item.change);
    }
    cell.append(badge);
    return cell;
  }

  function renderWindows() {
    const table = $("windows");
    const body = table.tBodies[0];
    const empty = $("windows-empty");
    const windows = state.windows;
    if (!windows) {
      table.dataset.state = state.error ? "error" : "loading";
      if (!body.querySelector(".skeleton")) body.replaceChildren(...skeletonRows(table, 5));
      $("windows-hint").textContent = t("windowsHint");
      return;
    }
    table.dataset.fromMs = String(windows.from_ms);
    table.dataset.toMs = String(windows.to_ms);
    table.dataset.state = windows.windows.length ? "ready" : "empty";
    const newestFirst = windows.windows.slice().reverse();
    const displayed = newestFirst.slice(0, MAX_WINDOW_ROWS);
    const timeFormat = state.range === "24h" ? formats.dayTime : formats.time;
    body.replaceChildren(...displayed.map((entry) => windowRow(entry, timeFormat)));
    let hint = t("windowsHint");
    if (newestFirst.length > displayed.length) {
      hint = t("windowsShowing", { count: formats.integer.format(displayed.length), total: formats.integer.format(newestFirst.length) }) + " " + hint;
    }
    $("windows-hint").textContent = hint;
    empty.hidden = windows.windows.length > 0;
    if (!empty.hidden) empty.replaceChildren(element("p", "empty-title", t("windowsEmpty", { range: rangeText() })));
  }

  function windowRow(entry, timeFormat) {
    const row = document.createElement("tr");
    row.dataset.windowStartMs = String(entry.window_start_ms);
    row.dataset.events = String(entry.events);
    row.dataset.clicks = String(entry.clicks);
    row.dataset.invalid = String(entry.invalid);
    row.dataset.late = String(entry.late);
    row.dataset.duplicate = String(entry.duplicate);
    row.dataset.final = String(entry.is_final);
    const start = element("td", "col-time", timeFormat.format(entry.window_start_ms));
    start.title = formats.dateTime.format(entry.window_start_ms) + " – " + formats.time.format(entry.window_end_ms);
    const badge = element("span", "badge " + (entry.is_final ? "final" : "partial"), entry.is_final ? t("final") : t("partial"));
    const stateCell = element("td", "col-state");
    stateCell.append(badge);
    row.append(
      start,
      element("td", "num", formats.integer.format(entry.events)),
      element("td", "num col-optional", formats.integer.format(entry.clicks)),
      element("td", "num", formats.integer.format(entry.invalid)),
      element("td", "num", formats.integer.format(entry.late)),
      element("td", "num col-optional", formats.integer.format(entry.duplicate)),
      stateCell,
    );
    return row;
  }

  function renderFooter() {
    const status = state.status;
    if (!status) return;
    const storeNames = { clickhouse: "ClickHouse", embedded: t("embeddedStore") };
    $("footer-store").textContent = t("store", { store: storeNames[status.store] || status.store }) + " · v" + status.version;
    $("footer-clicks").textContent = t("clickTypes", { types: status.click_event_types.join(", ") });
  }

  // ---- chart ----

  function renderChart() {
    const series = state.series;
    let windowMs = 60000;
    if (series) {
      windowMs = series.window_ms;
    } else if (state.status) {
      windowMs = state.status.window_ms;
    }
    const title = windowMs === 60000 ? t("chartTitleMinute") : t("chartTitleWindow", { size: windowSizeText(windowMs) });
    $("chart-title").textContent = title;
    $("chart").setAttribute("aria-label", title);
    renderChartPages();
    if (!series || typeof window.uPlot !== "function") return;

    const xs = series.window_starts_ms.map((ms) => ms / 1000);
    const data = [xs, series.events];
    for (const page of state.chartPages) {
      const found = series.pages.find((item) => item.page === page);
      data.push(found ? found.clicks : xs.map(() => 0));
    }
    const empty = $("chart-empty");
    const anyEvents = series.events.some((value) => value > 0);
    empty.hidden = anyEvents;
    if (!anyEvents) empty.textContent = t("chartEmpty", { range: rangeText() });

    const key = [state.lang, state.range, state.chartPages.join("\n")].join("|");
    if (chart && key === chartKey) {
      chart.setData(data);
      chart.setLegend();
      return;
    }
    if (chart) chart.destroy();
    chartKey = key;
    chart = new window.uPlot(chartOptions(), data, $("chart"));
  }

  function chartWidth() {
    return Math.max(240, $("chart").clientWidth || 600);
  }

  function chartHeight() {
    return window.innerWidth < 600 ? 220 : 280;
  }

  function cssColor(name, fallback) {
    const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function chartOptions() {
    const axisColor = cssColor("--muted", "#5c6370");
    const gridColor = cssColor("--grid", "#e6e8eb");
    const eventsColor = cssColor("--accent", "#3b5bdb");
    const hasPages = state.chartPages.length > 0;
    const timeFormat = state.range === "24h" ? formats.dayTime : formats.time;
    const series = [
      { label: t("time"), value: legendValue((value) => formats.dateTime.format(value * 1000)) },
      {
        label: t("allEvents"),
        scale: "events",
        stroke: eventsColor,
        fill: eventsColor + "22",
        width: 2,
        points: { show: false },
        value: legendValue((value) => formats.integer.format(value)),
      },
    ];
    state.chartPages.forEach((page, index) => {
      series.push({
        label: splitPage(page).path,
        scale: "clicks",
        stroke: PAGE_COLORS[index % PAGE_COLORS.length],
        width: 2,
        points: { show: false },
        value: legendValue((value) => formats.integer.format(value)),
      });
    });
    const axisValues = (u, splits) => splits.map((value) => (value === null ? "" : formats.compact.format(value)));
    const axes = [
      {
        stroke: axisColor,
        grid: { stroke: gridColor, width: 1 },
        ticks: { stroke: gridColor },
        values: (u, splits) => splits.map((seconds) => timeFormat.format(seconds * 1000)),
        space: 70,
      },
      { scale: "events", stroke: axisColor, grid: { stroke: gridColor, width: 1 }, ticks: { stroke: gridColor }, values: axisValues, incrs: COUNT_STEPS, size: 56 },
    ];
    if (hasPages) {
      axes.push({ scale: "clicks", side: 1, stroke: axisColor, grid: { show: false }, ticks: { stroke: gridColor }, values: axisValues, incrs: COUNT_STEPS, size: 56, label: t("clicksAxis") });
    }
    return {
      width: chartWidth(),
      padding: [12, hasPages ? 0 : 28, 0, 0],
      height: chartHeight(),
      series,
      axes,
      // The x axis runs to the end of the current window, so the shaded partial windows show.
      scales: { x: { time: true, range: xRange }, events: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] }, clicks: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      hooks: { drawClear: [shadePartialWindows] },
    };
  }

  // Formats the hovered value in the legend, or the newest window's value when the cursor is
  // away from the chart.
  function legendValue(format) {
    return (u, value, seriesIndex, index) => {
      if (index === null || index === undefined) {
        const values = u.data[seriesIndex];
        value = values && values.length ? values[values.length - 1] : null;
      }
      return value === null || value === undefined ? "–" : format(value);
    };
  }

  function xRange(u, min, max) {
    const series = state.series;
    return series ? [series.from_ms / 1000, series.to_ms / 1000] : [min, max];
  }

  // Shades the windows that are not final yet: from the start of the window that contains
  // final_before_ms to the end of the range. Without any checkpoint there are no counts either,
  // so nothing is shaded.
  function shadePartialWindows(u) {
    const series = state.series;
    if (!series || !state.status || state.status.final_before_ms === null) return;
    const finalBefore = state.status.final_before_ms;
    const firstPartial = finalBefore - (((finalBefore % series.window_ms) + series.window_ms) % series.window_ms);
    const startSeconds = Math.max(firstPartial, series.from_ms) / 1000;
    const endSeconds = series.to_ms / 1000;
    if (startSeconds >= endSeconds) return;
    const left = Math.max(u.bbox.left, u.valToPos(startSeconds, "x", true));
    const right = Math.min(u.bbox.left + u.bbox.width, u.valToPos(endSeconds, "x", true));
    const context = u.ctx;
    context.save();
    context.fillStyle = cssColor("--partial", "rgba(240, 140, 0, 0.10)");
    context.fillRect(left, u.bbox.top, Math.max(0, right - left), u.bbox.height);
    context.restore();
  }

  function renderChartPages() {
    const list = $("chart-pages");
    list.replaceChildren(
      ...state.chartPages.map((page, index) => {
        const item = element("li", "chip");
        item.dataset.page = page;
        const swatch = element("span", "swatch");
        swatch.style.backgroundColor = PAGE_COLORS[index % PAGE_COLORS.length];
        const label = element("span", "chip-label", splitPage(page).path);
        label.title = displayPage(page);
        const remove = element("button", "chip-remove", "×");
        remove.type = "button";
        remove.setAttribute("aria-label", t("removePage", { page: displayPage(page) }));
        remove.addEventListener("click", () => togglePage(page));
        item.append(swatch, label, remove);
        return item;
      }),
    );
  }

  function togglePage(page) {
    const index = state.chartPages.indexOf(page);
    state.notice = null;
    if (index >= 0) {
      state.chartPages.splice(index, 1);
    } else if (state.chartPages.length >= MAX_CHART_PAGES) {
      state.notice = t("maxPages", { count: MAX_CHART_PAGES });
      render();
      return;
    } else {
      state.chartPages.push(page);
    }
    render();
    refresh();
  }

  // ---- helpers ----

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // Builds placeholder rows shaped like the table's header, so that columns hidden on narrow
  // screens are hidden in the placeholders too.
  function skeletonRows(table, rows) {
    const headers = Array.from(table.tHead.rows[0].cells);
    const result = [];
    for (let r = 0; r < rows; r += 1) {
      const row = element("tr", "skeleton");
      for (const header of headers) {
        const cell = element("td", header.className);
        cell.append(element("span", "bone"));
        row.append(cell);
      }
      result.push(row);
    }
    return result;
  }

  // ---- controls ----

  function setRange(range) {
    if (!RANGES.includes(range) || range === state.range) return;
    state.range = range;
    state.top = null;
    state.windows = null;
    state.series = null;
    render();
    refresh();
  }

  function bindControls() {
    for (const button of document.querySelectorAll("button[data-range]")) {
      button.addEventListener("click", () => setRange(button.dataset.range));
    }
    for (const button of document.querySelectorAll("button[data-lang]")) {
      button.addEventListener("click", () => {
        setLanguage(button.dataset.lang, true);
        // Drop ?lang= so that a reload keeps the choice just made.
        const url = new URL(window.location.href);
        if (url.searchParams.has("lang")) {
          url.searchParams.delete("lang");
          window.history.replaceState(null, "", url);
        }
      });
    }
    let debounce = null;
    $("filter").addEventListener("input", (event) => {
      window.clearTimeout(debounce);
      debounce = window.setTimeout(() => {
        state.filter = event.target.value.trim();
        refresh();
      }, 300);
    });
    const body = $("top-pages").tBodies[0];
    body.addEventListener("click", (event) => {
      const row = event.target.closest("tr.page-row");
      if (row) togglePage(row.dataset.page);
    });
    body.addEventListener("keydown", (event) => {
      const row = event.target.closest("tr.page-row");
      if (row && (event.key === "Enter" || event.key === " ")) {
        event.preventDefault();
        togglePage(row.dataset.page);
      }
    });
    if (typeof ResizeObserver === "function") {
      new ResizeObserver(() => {
        if (chart) chart.setSize({ width: chartWidth(), height: chartHeight() });
      }).observe($("chart"));
    }
  }

  function start() {
    const params = new URLSearchParams(window.location.search);
    if (RANGES.includes(params.get("range"))) state.range = params.get("range");
    if (params.get("page")) {
      state.filter = params.get("page").trim();
      $("filter").value = state.filter;
    }
    for (const page of params.getAll("chart").slice(0, MAX_CHART_PAGES)) {
      if (page && !state.chartPages.includes(page)) state.chartPages.push(page);
    }
    bindControls();
    setLanguage(initialLanguage(), false);
    refresh();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
