import { describe, expect, it } from 'vitest';

import { CHANNELS, channelsOf, toggled, type PreferencesForm } from '../notifications';

const none: PreferencesForm = { phone: null, channels: {}, quiet_hours: null, on_call: false };

describe('notification preferences', () => {
  it('defaults to every reachable channel: SMS only with a phone', () => {
    expect(channelsOf(none, 'reminder_24h')).toEqual(['email', 'portal']);
    expect(channelsOf({ ...none, phone: '+33612345678' }, 'reminder_24h')).toEqual(['email', 'sms', 'portal']);
  });

  it('a toggle makes the choice explicit, in the channels order, and can turn a kind off', () => {
    const phone: PreferencesForm = { ...none, phone: '+33612345678' };
    const noEmail = toggled(phone, 'reminder_1h', 'email', false);
    expect(noEmail.channels).toEqual({ reminder_1h: ['sms', 'portal'] });
    const back = toggled(noEmail, 'reminder_1h', 'email', true);
    expect(back.channels?.reminder_1h).toEqual(['email', 'sms', 'portal']);
    const off = CHANNELS.reduce((p, c) => toggled(p, 'slot_offered', c, false), phone);
    expect(off.channels?.slot_offered).toEqual([]);
    expect(channelsOf(off, 'slot_offered')).toEqual([]);
  });
});
