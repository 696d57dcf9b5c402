// The end-to-end harness, for the web app's tests and the extension's (extension/e2e).
export * from './browser';
export * from './fuze';
export * from './gemini';
export * from './pages';
export * from './session';
