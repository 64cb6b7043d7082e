/* The widget's state, and an action bus: views call the controller without importing it. */
export const S = {
  session: null, busy: false, cur: null, shown: false, follow: true, unread: 0, attached: null,
  retryAction: null, stopping: false, editing: null, universes: [], details: false,
};
export const sent = new Map(), users = new Map(), replies = new Map();
export const pending = new Set(), acked = new Set(), outbox = [];
const handlers = {};
export const on = (name, fn) => { handlers[name] = fn; };
export const act = (name, ...args) => handlers[name] && handlers[name](...args);
