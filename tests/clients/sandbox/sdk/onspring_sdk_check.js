// Drives the public Onspring JS SDK (npm onspring-api-sdk) against the sandbox and prints what
// it saw as one JSON object, for tests/clients/sandbox/onspring_sdk_fidelity_test.cc to compare
// with onsync's own client. Usage: node onspring_sdk_check.js BASE_URL API_KEY
'use strict';
const sdk = require('onspring-api-sdk');

const USERS_APP = 100;
const FIELDS = [1001, 1002, 1005];

// Field id -> value of one SDK record, in a shape both sides can print.
function fieldsOf(record) {
  const fields = {};
  for (const value of record.fieldData) fields[String(value.fieldId)] = value.value;
  return {recordId: record.recordId, fields};
}

function check(response, what) {
  if (!response.isSuccessful) {
    throw new Error(`${what}: HTTP ${response.statusCode} ${response.message}`);
  }
  return response.data;
}

async function queryByFullName(client, name) {
  const filter = `1005 eq '${name.replace(/'/g, "''")}'`;
  const page = check(
      await client.queryRecords(new sdk.QueryRecordsRequest(USERS_APP, filter, FIELDS)),
      'queryRecords');
  return page.items.map(fieldsOf);
}

async function main() {
  const [baseUrl, apiKey] = process.argv.slice(2);
  const client = new sdk.OnspringClient(baseUrl, apiKey);
  const out = {};
  out.query = await queryByFullName(client, "Zoë Müller");
  const id = out.query[0].recordId;
  out.get = fieldsOf(check(
      await client.getRecordById(new sdk.GetRecordRequest(USERS_APP, id, FIELDS)), 'getRecordById'));
  const batch = check(
      await client.getRecordsByIds(new sdk.GetRecordsRequest(USERS_APP, [id], FIELDS)),
      'getRecordsByIds');
  out.batch = batch.items.map(fieldsOf);
  const fields = new Map([[1001, 'Ada'], [1002, 'Lovelace']]);
  const saved = check(
      await client.saveRecord(new sdk.SaveRecordRequest(USERS_APP, null, fields)), 'saveRecord');
  out.saved = {id: saved.id, warnings: saved.warnings};
  out.requery = await queryByFullName(client, 'Ada Lovelace');
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
