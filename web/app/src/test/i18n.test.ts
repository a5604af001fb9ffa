import { describe, expect, it } from 'vitest';

import i18n from '../i18n';

function keys(node: unknown, prefix = ''): string[] {
  if (typeof node !== 'object' || node === null) return [prefix];
  return Object.entries(node).flatMap(([k, v]) => keys(v, prefix ? `${prefix}.${k}` : k));
}

describe('messages', () => {
  it('French says everything English says', () => {
    const en = keys(i18n.getResourceBundle('en', 'translation')).sort();
    const fr = keys(i18n.getResourceBundle('fr', 'translation')).sort();
    expect(fr).toEqual(en);
  });
});
