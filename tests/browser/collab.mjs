// Two people editing one notebook in real browsers: rjup's collaboration test
// (tests/collaboration.rs) runs this on the colleague's laptop (the client host's
// network namespace) with Debian's Chromium, driven by playwright-core over CDP.
//
// Usage: node collab.mjs --url URL --notebook PATH
//          --login-a [NAME:]PASSWORD --login-b [NAME:]PASSWORD
//          [--chromium /usr/bin/chromium] [--timeout SECONDS]
// A login's NAME is for the login page with a name field; a password may hold ':' only
// when a name comes first. Passwords travel in arguments because the tests' throwaway
// passwords are all that ever does.
//
// Each page types a unique marker into the notebook's first cell and the other must
// show it. Prints one JSON object on stdout: {ok, markers: {a, b}, seen_in_b,
// seen_in_a, news_prompt: {a, b}, collaborators: {a: {me, others}, b: ...},
// timings_ms}. When anything fails: exit 1, ok:false and an `error` in the JSON, the
// reason on stderr; and never longer than --timeout.

import { chromium } from "playwright-core";

function parseArgs(argv) {
  const args = { chromium: "/usr/bin/chromium", timeout: 120 };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, "").replace(/-/g, "_");
    if (argv[i + 1] === undefined) throw new Error(`${argv[i]} needs a value`);
    args[key] = argv[i + 1];
  }
  for (const need of ["url", "notebook", "login_a", "login_b"]) {
    if (!args[need]) throw new Error(`--${need.replace(/_/g, "-")} is required`);
  }
  args.url = args.url.replace(/\/+$/, "");
  args.timeout = Number(args.timeout);
  return args;
}

function parseLogin(text) {
  // "NAME:PASSWORD", or a bare password for the owner-only page.
  const at = text.indexOf(":");
  return at > 0 ? { username: text.slice(0, at), password: text.slice(at + 1) } : { username: null, password: text };
}

// Remembers whether the news prompt ever showed, even if it is dismissed or replaced by
// another toast before we look: JupyterLab shows it as a transient notification.
const NEWS_WATCH = () => {
  const seen = () => (document.body?.innerText || "").includes("official Jupyter news");
  const watch = () => {
    if (seen()) window.__rjupNews = true;
    new MutationObserver(() => {
      if (!window.__rjupNews && seen()) window.__rjupNews = true;
    }).observe(document.documentElement, { childList: true, subtree: true, characterData: true });
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", watch);
  else watch();
};

// Logs in on the real login page, as someone following a link to the notebook does:
// the lab then opens straight at `next`, so each person's page loads JupyterLab once.
async function logIn(page, url, login, next) {
  const response = await page.goto(`${url}/login?next=${encodeURIComponent(next)}`);
  if (!response || response.status() !== 200) {
    throw new Error(`GET ${url}/login answered ${response ? response.status() : "nothing"}`);
  }
  const name = page.locator('input[name="username"]');
  if (await name.count()) {
    if (login.username === null) throw new Error("the login page asks for a name, and no name was given");
    await name.fill(login.username);
  } else if (login.username !== null) {
    throw new Error(`a name (${login.username}) was given, and the login page has no username field`);
  }
  await page.locator('input[name="password"]').fill(login.password);
  // The form posts to /login: a redirect into the lab on success, the login page again
  // on failure; either way the next page load settles it.
  await Promise.all([
    page.waitForNavigation({ waitUntil: "domcontentloaded" }),
    page.locator('input[name="password"]').press("Enter"),
  ]);
  if (new URL(page.url()).pathname.endsWith("/login")) {
    const who = login.username ?? "the owner";
    throw new Error(`logging in as ${who} failed: still on the login page`);
  }
}

async function notebookEditor(page) {
  const editor = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell .cm-content").first();
  await editor.waitFor({ state: "visible" });
  return editor;
}

// Types `marker` at the end of the notebook's first cell in `from`, then waits, boundedly,
// until `to` shows it. Returns whether it did, and how long it took.
async function typeAndSee(from, to, marker) {
  await (await notebookEditor(from)).click();
  await from.keyboard.press("Control+End");
  await from.keyboard.type(` # ${marker}`);
  const typed = Date.now();
  const seen = await to
    .waitForFunction(
      (text) => [...document.querySelectorAll(".jp-Cell .cm-content")].some((e) => e.textContent.includes(text)),
      marker,
      { timeout: 60000 },
    )
    .then(
      () => true,
      () => false,
    );
  return [seen, Date.now() - typed];
}

// Who the page shows: itself (the user panel's icon title) and the others working on the
// lab (jupyter-collaboration's collaborators panel, whose header is initials + name).
async function collaborators(page) {
  return page.evaluate(() => ({
    me: document.querySelector(".jp-UserInfo-Icon")?.getAttribute("title") ?? null,
    others: [...document.querySelectorAll(".jp-CollaboratorsList .jp-CollaboratorHeader")].map((header) =>
      [...header.children]
        .filter((c) => !c.matches(".jp-CollaboratorIcon, .jp-CollaboratorHeaderCollapser"))
        .map((c) => c.textContent.trim())
        .join(""),
    ),
  }));
}

// The collaborators panel fills in when the other page's awareness arrives, a moment
// after the document syncs; wait for it, boundedly, and report what is there either way.
async function waitForOthers(page) {
  await page
    .waitForFunction(() => document.querySelectorAll(".jp-CollaboratorsList .jp-CollaboratorHeader").length > 0, null, {
      timeout: 10000,
    })
    .catch(() => {});
}

async function run(args, result) {
  const loginA = parseLogin(args.login_a);
  const loginB = parseLogin(args.login_b);
  const started = Date.now();
  const browser = await chromium.launch({
    executablePath: args.chromium,
    // As root Chromium refuses to start sandboxed; the pages are our own lab's.
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
    timeout: 30000,
  });
  try {
    const next = `/lab/tree/${args.notebook.split("/").map(encodeURIComponent).join("/")}`;
    const pages = [];
    for (const login of [loginA, loginB]) {
      // Separate contexts: separate cookies, as two people's browsers have.
      const context = await browser.newContext();
      context.setDefaultTimeout(60000);
      await context.addInitScript(NEWS_WATCH);
      const page = await context.newPage();
      await logIn(page, args.url, login, next);
      pages.push(page);
    }
    result.timings_ms.launch_and_login = Date.now() - started;
    const [a, b] = pages;
    await notebookEditor(a);
    await notebookEditor(b);
    result.timings_ms.notebooks_open = Date.now() - started;

    [result.seen_in_b, result.timings_ms.a_typed_to_b_seen] = await typeAndSee(a, b, result.markers.a);
    [result.seen_in_a, result.timings_ms.b_typed_to_a_seen] = await typeAndSee(b, a, result.markers.b);
    for (const [key, page] of [["a", a], ["b", b]]) {
      await waitForOthers(page);
      result.news_prompt[key] = await page.evaluate(() => Boolean(window.__rjupNews));
      result.collaborators[key] = await collaborators(page);
    }
    for (const [typist, reader, seen] of [["A", "B", result.seen_in_b], ["B", "A", result.seen_in_a]]) {
      if (!seen) throw new Error(`page ${reader} did not show the text typed in page ${typist} within 60 s`);
    }
    result.ok = true;
  } finally {
    await browser.close();
  }
}

const result = {
  ok: false,
  markers: { a: `rjup-collab-a-${process.pid}-${Date.now()}`, b: `rjup-collab-b-${process.pid}-${Date.now()}` },
  seen_in_b: false,
  seen_in_a: false,
  news_prompt: { a: null, b: null },
  collaborators: { a: null, b: null },
  timings_ms: {},
};
let args;
try {
  args = parseArgs(process.argv.slice(2));
} catch (e) {
  console.error(`collab.mjs: ${e.message}`);
  process.exit(2);
}
// Never hang: whatever is stuck, the whole run ends here.
const deadline = setTimeout(() => {
  result.error = `gave up after ${args.timeout} s`;
  console.log(JSON.stringify(result));
  console.error(`collab.mjs: ${result.error}`);
  process.exit(1);
}, args.timeout * 1000);
try {
  await run(args, result);
} catch (e) {
  result.error = e.message.split("\n")[0];
}
clearTimeout(deadline);
console.log(JSON.stringify(result));
if (!result.ok) {
  console.error(`collab.mjs: ${result.error}`);
  process.exit(1);
}
