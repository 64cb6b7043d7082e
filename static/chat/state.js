/* The widget's state, shared by its modules, and a tiny action bus so that views call the
 * controller (widget.js) without importing it. */
export const S = {
  session: null, busy: false, cur: null, shown: false, follow: true, unread: 0, attached: null,
  retryAction: null, stopping: false, editing: null, universes: [], details: false,
};
export const sent = new Map(), users = new Map(), replies = new Map();
export const pending = new Set(), acked = new Set(), outbox = [];
const handlers = {};
export const on = (name, fn) => { handlers[name] = fn; };
export const act = (name, ...args) => handlers[name] && handlers[name](...args);
