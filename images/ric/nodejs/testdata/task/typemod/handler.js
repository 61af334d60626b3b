export async function handler() {
  return 'ES module .js under "type": "module"';
}
