// Generates conformance/schemas/stripe.json: JSON Schemas of the Stripe objects the project uses
// and of the params and responses of every Stripe operation the client calls or the simulator
// serves, derived from the TypeScript declarations of Stripe's own Node library (`stripe`, pinned
// in package.json), which Stripe generates from its OpenAPI description of `ApiVersion`.
//
// Run: `npm ci && node generate.mjs` (see README.md). The output is committed; `cargo test` reads
// only that file.
import ts from 'typescript';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const stripeDir = path.join(here, 'node_modules', 'stripe');
const resources = path.join(stripeDir, 'cjs', 'resources');
const apiVersion = fs
  .readFileSync(path.join(stripeDir, 'cjs', 'apiVersion.d.ts'), 'utf8')
  .match(/ApiVersion = "([^"]+)"/)[1];
const stripeVersion = JSON.parse(fs.readFileSync(path.join(stripeDir, 'package.json'), 'utf8')).version;

// The operations the project uses: method, Stripe's path template (OpenAPI parameter names), and
// the stripe-node resource file and method that implement it. The method's JS source must call
// exactly this method and path (checked below); its declaration gives the params and result types.
const OPERATIONS = [
  ['GET', '/v1/balance_transactions', 'BalanceTransactions', 'list'],
  ['GET', '/v1/balance_transactions/{id}', 'BalanceTransactions', 'retrieve'],
  ['GET', '/v1/charges/{charge}', 'Charges', 'retrieve'],
  ['GET', '/v1/checkout/sessions', 'Checkout/Sessions', 'list'],
  ['GET', '/v1/checkout/sessions/{session}', 'Checkout/Sessions', 'retrieve'],
  ['POST', '/v1/checkout/sessions', 'Checkout/Sessions', 'create'],
  ['POST', '/v1/checkout/sessions/{session}/expire', 'Checkout/Sessions', 'expire'],
  ['GET', '/v1/customers', 'Customers', 'list'],
  ['GET', '/v1/customers/search', 'Customers', 'search'],
  ['GET', '/v1/customers/{customer}', 'Customers', 'retrieve'],
  ['GET', '/v1/customers/{customer}/payment_methods', 'Customers', 'listPaymentMethods'],
  ['POST', '/v1/customers', 'Customers', 'create'],
  ['POST', '/v1/customers/{customer}', 'Customers', 'update'],
  ['GET', '/v1/disputes', 'Disputes', 'list'],
  ['GET', '/v1/disputes/{dispute}', 'Disputes', 'retrieve'],
  ['POST', '/v1/disputes/{dispute}', 'Disputes', 'update'],
  ['POST', '/v1/disputes/{dispute}/close', 'Disputes', 'close'],
  ['GET', '/v1/events', 'Events', 'list'],
  ['GET', '/v1/events/{id}', 'Events', 'retrieve'],
  ['POST', '/v1/files', 'Files', 'create'],
  ['GET', '/v1/payment_intents', 'PaymentIntents', 'list'],
  ['GET', '/v1/payment_intents/search', 'PaymentIntents', 'search'],
  ['GET', '/v1/payment_intents/{intent}', 'PaymentIntents', 'retrieve'],
  ['POST', '/v1/payment_intents', 'PaymentIntents', 'create'],
  ['POST', '/v1/payment_intents/{intent}', 'PaymentIntents', 'update'],
  ['POST', '/v1/payment_intents/{intent}/cancel', 'PaymentIntents', 'cancel'],
  ['POST', '/v1/payment_intents/{intent}/capture', 'PaymentIntents', 'capture'],
  ['POST', '/v1/payment_intents/{intent}/confirm', 'PaymentIntents', 'confirm'],
  ['POST', '/v1/payment_intents/{intent}/increment_authorization', 'PaymentIntents', 'incrementAuthorization'],
  ['GET', '/v1/payouts', 'Payouts', 'list'],
  ['GET', '/v1/payouts/{payout}', 'Payouts', 'retrieve'],
  ['GET', '/v1/payment_methods', 'PaymentMethods', 'list'],
  ['GET', '/v1/payment_methods/{payment_method}', 'PaymentMethods', 'retrieve'],
  ['POST', '/v1/payment_methods/{payment_method}/attach', 'PaymentMethods', 'attach'],
  ['POST', '/v1/payment_methods/{payment_method}/detach', 'PaymentMethods', 'detach'],
  ['GET', '/v1/refunds', 'Refunds', 'list'],
  ['GET', '/v1/refunds/{refund}', 'Refunds', 'retrieve'],
  ['POST', '/v1/refunds', 'Refunds', 'create'],
  ['GET', '/v1/setup_intents/{intent}', 'SetupIntents', 'retrieve'],
  ['POST', '/v1/setup_intents', 'SetupIntents', 'create'],
  ['POST', '/v1/setup_intents/{intent}/confirm', 'SetupIntents', 'confirm'],
  ['POST', '/v1/setup_intents/{intent}/cancel', 'SetupIntents', 'cancel'],
  ['POST', '/v1/terminal/connection_tokens', 'Terminal/ConnectionTokens', 'create'],
  ['DELETE', '/v1/terminal/configurations/{configuration}', 'Terminal/Configurations', 'del'],
  ['GET', '/v1/terminal/configurations', 'Terminal/Configurations', 'list'],
  ['GET', '/v1/terminal/configurations/{configuration}', 'Terminal/Configurations', 'retrieve'],
  ['POST', '/v1/terminal/configurations', 'Terminal/Configurations', 'create'],
  ['POST', '/v1/terminal/configurations/{configuration}', 'Terminal/Configurations', 'update'],
  ['GET', '/v1/terminal/locations', 'Terminal/Locations', 'list'],
  ['GET', '/v1/terminal/locations/{location}', 'Terminal/Locations', 'retrieve'],
  ['POST', '/v1/terminal/locations', 'Terminal/Locations', 'create'],
  ['POST', '/v1/terminal/locations/{location}', 'Terminal/Locations', 'update'],
  ['DELETE', '/v1/terminal/locations/{location}', 'Terminal/Locations', 'del'],
  ['GET', '/v1/terminal/readers', 'Terminal/Readers', 'list'],
  ['GET', '/v1/terminal/readers/{reader}', 'Terminal/Readers', 'retrieve'],
  ['POST', '/v1/terminal/readers/{reader}', 'Terminal/Readers', 'update'],
  ['DELETE', '/v1/terminal/readers/{reader}', 'Terminal/Readers', 'del'],
  ['POST', '/v1/terminal/readers', 'Terminal/Readers', 'create'],
  ['POST', '/v1/terminal/readers/{reader}/cancel_action', 'Terminal/Readers', 'cancelAction'],
  ['POST', '/v1/terminal/readers/{reader}/process_payment_intent', 'Terminal/Readers', 'processPaymentIntent'],
  ['POST', '/v1/terminal/readers/{reader}/collect_payment_method', 'Terminal/Readers', 'collectPaymentMethod'],
  ['POST', '/v1/terminal/readers/{reader}/confirm_payment_intent', 'Terminal/Readers', 'confirmPaymentIntent'],
  ['POST', '/v1/terminal/readers/{reader}/refund_payment', 'Terminal/Readers', 'refundPayment'],
  ['POST', '/v1/terminal/readers/{reader}/process_setup_intent', 'Terminal/Readers', 'processSetupIntent'],
  ['POST', '/v1/terminal/readers/{reader}/set_reader_display', 'Terminal/Readers', 'setReaderDisplay'],
  ['POST', '/v1/test_helpers/terminal/readers/{reader}/present_payment_method', 'TestHelpers/Terminal/Readers', 'presentPaymentMethod'],
  ['GET', '/v1/webhook_endpoints', 'WebhookEndpoints', 'list'],
  ['GET', '/v1/webhook_endpoints/{webhook_endpoint}', 'WebhookEndpoints', 'retrieve'],
  ['POST', '/v1/webhook_endpoints', 'WebhookEndpoints', 'create'],
  ['POST', '/v1/webhook_endpoints/{webhook_endpoint}', 'WebhookEndpoints', 'update'],
  ['DELETE', '/v1/webhook_endpoints/{webhook_endpoint}', 'WebhookEndpoints', 'del'],
];

// Objects checked on their own (event payloads, objects inside errors), by their `object` value:
// [object, resource file, type name].
const OBJECTS = [
  ['balance_transaction', 'BalanceTransactions', 'BalanceTransaction'],
  ['charge', 'Charges', 'Charge'],
  ['checkout.session', 'Checkout/Sessions', 'Session'],
  ['customer', 'Customers', 'Customer'],
  ['dispute', 'Disputes', 'Dispute'],
  ['event', 'Events', 'Event'],
  ['file', 'Files', 'File'],
  ['payment_intent', 'PaymentIntents', 'PaymentIntent'],
  ['payment_method', 'PaymentMethods', 'PaymentMethod'],
  ['payout', 'Payouts', 'Payout'],
  ['refund', 'Refunds', 'Refund'],
  ['setup_intent', 'SetupIntents', 'SetupIntent'],
  ['terminal.connection_token', 'Terminal/ConnectionTokens', 'ConnectionToken'],
  ['terminal.location', 'Terminal/Locations', 'Location'],
  ['terminal.reader', 'Terminal/Readers', 'Reader'],
  ['terminal.configuration', 'Terminal/Configurations', 'Configuration'],
  ['webhook_endpoint', 'WebhookEndpoints', 'WebhookEndpoint'],
];

/**
 * Turns TypeScript types into JSON Schema (draft-07 subset): `type` (a name or a list of names),
 * `enum`, `anyOf`, `$ref` to `#/definitions/<name>`, `properties`, `required` (the non-optional
 * properties), `additionalProperties` (`false` unless the type has an index signature), `items`.
 * Every interface becomes a definition named after its file and qualified name
 * (`PaymentIntents:PaymentIntent.AmountDetails`); type aliases and literals are inlined. A `number`
 * stays `number`: the declarations do not tell integers apart.
 */
class Converter {
  constructor(checker) {
    this.checker = checker;
    this.definitions = {};
    this.resources = new Set(); // definition names of Stripe API resources (with `object` and `id`)
    // Property schemas of includable fields: lists Stripe omits unless `expand[]` names them,
    // declared as optional `ApiList` properties of an interface (`refunds?: ApiList<Refund>`). Not
    // the optional properties of mapped types (`Partial<Charge>` in `previous_attributes`).
    this.includable = new WeakSet();
  }

  name(symbol) {
    const full = this.checker.getFullyQualifiedName(symbol);
    const m = full.match(/^"(.*)"\.(.*)$/);
    if (!m) return full;
    const file = m[1].replace(/.*\/stripe\/cjs\//, '').replace(/^resources\//, '').replace(/\//g, '.');
    return `${file}:${m[2]}`;
  }

  members(type) {
    const out = {};
    for (const prop of this.checker.getPropertiesOfType(type)) {
      out[prop.name] = this.convert(this.checker.getTypeOfSymbol(prop));
    }
    return out;
  }

  convert(type) {
    const f = type.flags;
    if (f & ts.TypeFlags.Null) return { type: 'null' };
    if (f & ts.TypeFlags.Any || f & ts.TypeFlags.Unknown) return {};
    if (f & ts.TypeFlags.StringLiteral) return { type: 'string', enum: [type.value] };
    if (f & ts.TypeFlags.NumberLiteral) return { type: 'number', enum: [type.value] };
    if (f & ts.TypeFlags.BooleanLiteral) return { type: 'boolean' };
    if (f & ts.TypeFlags.String) return { type: 'string' };
    if (f & ts.TypeFlags.Number) return { type: 'number' };
    if (f & ts.TypeFlags.Boolean) return { type: 'boolean' };
    if (type.isUnion()) return this.union(type.types);
    // `Decimal` is `DecimalImpl & {brand}`: decimals travel as strings.
    if (type.aliasSymbol?.name === 'Decimal') return { type: 'string' };
    if (type.isIntersection()) {
      // `OtherString` is `string & Record<never, never>`: stripe-node's escape for values newer
      // than the declarations. Next to literals it is dropped (the documented values are the
      // enum); alone it is a string.
      if (type.types.some((t) => t.flags & ts.TypeFlags.String)) return { type: 'string', 'x-other': true };
      const merged = { type: 'object', properties: {}, required: [], additionalProperties: false };
      for (const part of type.types) Object.assign(merged.properties, this.object(part).properties);
      return merged;
    }
    if (this.checker.isArrayType(type)) {
      return { type: 'array', items: this.convert(this.checker.getTypeArguments(type)[0]) };
    }
    const symbol = type.aliasSymbol ? undefined : type.getSymbol();
    if (symbol?.name === 'Decimal') return { type: 'string' }; // decimals travel as strings
    if (symbol && symbol.flags & ts.SymbolFlags.Interface && !(type.typeArguments?.length)) {
      const name = this.name(symbol);
      if (!(name in this.definitions)) {
        this.definitions[name] = null; // placeholder: recursive types
        const schema = this.object(type);
        this.definitions[name] = schema;
        if (schema.properties.id && schema.properties.object?.enum) this.resources.add(name);
      }
      return { $ref: `#/definitions/${name}` };
    }
    const schema = this.object(type);
    return schema;
  }

  object(type) {
    const schema = { type: 'object', properties: {}, required: [], additionalProperties: false };
    for (const prop of this.checker.getPropertiesOfType(type)) {
      const propType = this.checker.getTypeOfSymbol(prop);
      if (propType.getCallSignatures().length) continue; // methods
      const optional = (prop.flags & ts.SymbolFlags.Optional) !== 0;
      // union() drops the `undefined` that strict mode adds to an optional property's type.
      schema.properties[prop.name] = propType.isUnion() ? this.union(propType.types) : this.convert(propType);
      const mapped = (prop.flags & ts.SymbolFlags.Transient) !== 0;
      if (optional && !mapped && isList(schema.properties[prop.name])) this.includable.add(schema.properties[prop.name]);
      if (!optional) schema.required.push(prop.name);
    }
    const index = this.checker.getIndexInfosOfType(type)[0];
    if (index) schema.additionalProperties = this.convert(index.type);
    schema.required.sort();
    schema.properties = Object.fromEntries(Object.entries(schema.properties).sort(([a], [b]) => (a < b ? -1 : 1)));
    if (!schema.required.length) delete schema.required;
    return schema;
  }

  union(members) {
    const schemas = members.filter((t) => !(t.flags & ts.TypeFlags.Undefined)).map((t) => this.convert(t));
    const free = new Set(); // primitive types taking any value
    const literals = []; // string and number literals
    const others = [];
    const open = schemas.some((s) => s['x-other']);
    for (const s of schemas.filter((s) => !s['x-other'] || !schemas.some((t) => t.enum))) {
      delete s['x-other'];
      if (s.enum && Object.keys(s).length === 2) literals.push(...s.enum);
      else if (Object.keys(s).length === 1 && typeof s.type === 'string') free.add(s.type);
      else others.push(s);
    }
    // A free `string` swallows the string literals (`'a' | OtherString`).
    const values = [...new Set(literals.filter((v) => !free.has(typeof v)))].sort();
    const simple = [];
    if (values.length) {
      const types = [...new Set(values.map((v) => typeof v))];
      if (free.delete('null')) {
        types.push('null');
        values.push(null);
      }
      simple.push({ type: types.length === 1 ? types[0] : types, enum: values });
    }
    if (free.size) simple.push({ type: free.size === 1 ? [...free][0] : [...free].sort() });
    const all = [...simple, ...others];
    if (!all.length && open) return { type: 'string' };
    return all.length === 1 ? all[0] : { anyOf: all };
  }

  /**
   * Per object: the dotted paths of the fields `expand[]` accepts — those that hold an ID or,
   * expanded, another resource, and the includable lists (`includable`, also listed on their own).
   */
  expandable(objects) {
    const out = {};
    const includable = {};
    for (const [object, schema] of Object.entries(objects)) {
      const found = [];
      const lists = [];
      const walk = (s, at, seen) => {
        if (s.$ref) {
          const name = s.$ref.slice('#/definitions/'.length);
          if (seen.has(name) || (at && this.resources.has(name))) return;
          return walk(this.definitions[name], at, new Set([...seen, name]));
        }
        for (const alt of s.anyOf ?? []) if (!alt.$ref || !this.resources.has(alt.$ref.slice(14))) walk(alt, at, seen);
        if (s.items) walk(s.items, at, seen);
        for (const [k, v] of Object.entries(s.properties ?? {})) {
          const path = at ? `${at}.${k}` : k;
          const alts = v.anyOf ?? [v];
          const id = alts.some((a) => a.type === 'string' || (Array.isArray(a.type) && a.type.includes('string')));
          const resource = alts.some((a) => a.$ref && this.resources.has(a.$ref.slice(14)));
          if (id && resource) found.push(path);
          if (this.includable.has(v)) lists.push(path);
          walk(v, path, seen);
        }
      };
      walk(schema, '', new Set());
      out[object] = [...new Set([...found, ...lists])].sort();
      includable[object] = [...new Set(lists)].sort();
    }
    return { expandable: out, includable };
  }
}

/** Whether a schema is (or, with null, may be) a list object: `{object: 'list', data, …}`. */
const isList = (s) => (s.anyOf ?? [s]).some((a) => a.properties?.object?.enum?.[0] === 'list' && a.properties.data);

const read = (file) => fs.readFileSync(path.join(resources, file), 'utf8');
const normalize = (template) => template.replace(/\{[^}]*\}/g, '{}').replace(/\$\{[^}]*\}/g, '{}');

const imports = new Map(); // resource file -> Set of imported top-level names
// The resource file that declares `name` as used in `file` (itself, or the one it imports it from).
const home = (file, name) => {
  const top = name.split('.')[0];
  const dts = read(`${file}.d.ts`);
  if (new RegExp(`^export (interface|declare namespace|type) ${top}\\b`, 'm').test(dts)) return file;
  const m = dts.match(new RegExp(`^import \\{[^}]*\\b${top}\\b[^}]*\\} from '(\\.[^']+)\\.js';`, 'm'));
  if (!m) throw new Error(`${file}: where is ${name} from?`);
  return path.posix.join(path.posix.dirname(file), m[1]);
};
const use = (file, name) => {
  const top = name.split('.')[0];
  file = home(file, name);
  if (!imports.has(file)) imports.set(file, new Set());
  imports.get(file).add(top);
};
const alias = (file) => '_' + file.replace(/\W/g, '_');
const qualified = (file, name) => `${alias(home(file, name))}.${name}`;

const operationMembers = [];
const table = {};
for (const [method, template, file, fn] of OPERATIONS) {
  const js = read(`${file}.js`);
  const call = js.match(new RegExp(`\\n    ${fn}\\([^)]*\\) \\{\\s*return this\\._makeRequest\\('(\\w+)', [\`'](\\S+?)[\`']`));
  if (!call) throw new Error(`${file}.${fn}: no request in the JS source`);
  if (call[1] !== method || normalize(call[2]) !== normalize(template)) {
    throw new Error(`${file}.${fn} is ${call[1]} ${call[2]}, not ${method} ${template}`);
  }
  const dts = read(`${file}.d.ts`);
  const decl = dts.match(new RegExp(`\\n    ${fn}\\((?:id: string, )?params\\??: ([\\w.]+), options\\?: RequestOptions\\): (.+);`));
  if (!decl) throw new Error(`${file}.${fn}: no declaration`);
  const params = decl[1];
  const ret = decl[2];
  let response;
  let m;
  if ((m = ret.match(/^Promise<Response<(.+)>>$/))) {
    const types = m[1].split(' | ');
    types.forEach((t) => use(file, t));
    response = types.map((t) => qualified(file, t)).join(' | ');
  } else if ((m = ret.match(/^ApiListPromise<(.+)>$/))) {
    use(file, m[1]);
    response = `ApiList<${qualified(file, m[1])}>`;
  } else if ((m = ret.match(/^ApiSearchResultPromise<(.+)>$/))) {
    use(file, m[1]);
    response = `ApiSearchResult<${qualified(file, m[1])}>`;
  } else {
    throw new Error(`${file}.${fn}: unexpected result ${ret}`);
  }
  use(file, params);
  const key = `${method} ${template}`;
  operationMembers.push(`  ${JSON.stringify(key)}: { params: ${qualified(file, params)}; response: ${response} };`);
  table[key] = { stripe_node: `${file}.${fn}`, params: params, response: m[1] };
}
const objectMembers = OBJECTS.map(([object, file, name]) => {
  use(file, name);
  return `  ${JSON.stringify(object)}: ${qualified(file, name)};`;
});

const work = fs.mkdtempSync(path.join(here, '.gen-'));
try {
  const rel = (p) => path.relative(work, p).split(path.sep).join('/');
  const entry = [
    `import type { ApiList, ApiSearchResult } from '${rel(path.join(stripeDir, 'cjs', 'lib.js'))}';`,
    `import type { StripeRawError } from '${rel(path.join(stripeDir, 'cjs', 'Types.js'))}';`,
    ...[...imports.keys()].map(
      (file) => `import type * as ${alias(file)} from '${rel(path.join(resources, file + '.js'))}';`,
    ),
    'export interface Operations {',
    ...operationMembers,
    '}',
    'export interface Objects {',
    ...objectMembers,
    '}',
    'export interface ErrorResponse { error: StripeRawError }',
    '',
  ].join('\n');
  const entryFile = path.join(work, 'entry.ts');
  fs.writeFileSync(entryFile, entry);
  const program = ts.createProgram([entryFile], {
    strict: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    skipLibCheck: true,
    noEmit: true,
  });
  const problems = ts.getPreEmitDiagnostics(program).filter((d) => d.file?.fileName === entryFile);
  if (problems.length) {
    throw new Error(problems.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('\n'));
  }
  const converter = new Converter(program.getTypeChecker());
  const root = program.getSourceFile(entryFile);
  const top = {};
  for (const statement of root.statements) {
    if (!ts.isInterfaceDeclaration(statement)) continue;
    top[statement.name.text] = converter.members(converter.checker.getTypeAtLocation(statement));
  }
  const operations = {};
  for (const [key, op] of Object.entries(top.Operations)) {
    operations[key] = { ...table[key], params_schema: op.properties.params, response_schema: op.properties.response };
  }
  const { expandable, includable } = converter.expandable(top.Objects);
  const out = {
    $comment: `Generated by conformance/generate.mjs from stripe-node ${stripeVersion}; do not edit.`,
    api_version: apiVersion,
    stripe_node: stripeVersion,
    operations,
    objects: top.Objects,
    error: { type: 'object', properties: top.ErrorResponse, required: ['error'], additionalProperties: false },
    expandable,
    includable,
    definitions: Object.fromEntries(Object.entries(converter.definitions).sort(([a], [b]) => (a < b ? -1 : 1))),
  };
  fs.mkdirSync(path.join(here, 'schemas'), { recursive: true });
  const target = path.join(here, 'schemas', 'stripe.json');
  fs.writeFileSync(target, JSON.stringify(out, (k, v) => (k === 'x-other' ? undefined : v)) + '\n');
  console.log(`${target}: ${fs.statSync(target).size} bytes, ${Object.keys(out.definitions).length} definitions`);
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
