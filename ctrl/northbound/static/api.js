// The controller's REST API from the page: reads open, writes with the API token
// (kept in this tab's sessionStorage, asked for when the controller wants one).

const KEY = "vm-mobility-api-token";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function token() {
  return sessionStorage.getItem(KEY);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(KEY, value);
  else sessionStorage.removeItem(KEY);
}

async function answer(response) {
  const text = await response.text();
  let body = {};
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    body = { error: text };
  }
  if (!response.ok) throw new ApiError(response.status, body.error || response.statusText);
  return body;
}

export async function getJSON(path) {
  return answer(await fetch(path, { headers: { Accept: "application/json" } }));
}

// A change: `askToken(why)` resolves to a token or null (the person declined). A token
// is asked for before the first change where the controller wants one, and again
// when the controller refuses the one given.
export async function change(method, path, body, { tokenNeeded, askToken }) {
  if (tokenNeeded && !token()) {
    const given = await askToken("This controller asks for a token before it changes anything.");
    if (!given) throw new ApiError(401, "no token given: nothing was changed");
    setToken(given);
  }
  for (let attempt = 0; ; attempt++) {
    const headers = { "Content-Type": "application/json", Accept: "application/json" };
    if (token()) headers.Authorization = `Bearer ${token()}`;
    const response = await fetch(path, { method, headers, body: JSON.stringify(body) });
    if (response.status === 401 && attempt === 0) {
      const given = await askToken("The controller refused the token (401): give the right one.");
      if (!given) throw new ApiError(401, "no token given: nothing was changed");
      setToken(given);
      continue;
    }
    return { status: response.status, data: await answer(response) };
  }
}
