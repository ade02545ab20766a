export { RpcError, RpcErrors } from './errors.js'
export { RpcRouter, type Fallback, type Handler, type HandlerMap, type MethodName, type RouterOptions } from './router.js'
export { buildConfig, buildNearestDc, registerBuiltins, type BuiltinSettings } from './builtins.js'
