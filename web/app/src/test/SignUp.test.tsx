import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { MemoryRouter } from 'react-router';
import { describe, expect, it } from 'vitest';

import { CONSENT, SignUp } from '../pages/SignUp';
import { SessionProvider } from '../session';

function renderSignUp() {
  const queries = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={queries}>
      <MemoryRouter>
        <SessionProvider>
          <SignUp />
        </SessionProvider>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

describe('SignUp', () => {
  it('asks for the consent, naming the notice version, before it can be sent', async () => {
    renderSignUp();
    const submit = screen.getByRole('button', { name: 'Create my account' });
    expect(submit).toBeDisabled();
    const consent = screen.getByRole('checkbox');
    expect(consent.closest('label')).toHaveTextContent(`notice version ${CONSENT.version}`);
    await userEvent.click(consent);
    expect(submit).toBeEnabled();
  });

  it('labels every field and requires what the record needs', () => {
    renderSignUp();
    for (const label of ['Email', /^Password/, 'Given names', 'Family name', 'Date of birth']) {
      expect(screen.getByLabelText(label)).toBeRequired();
    }
    expect(screen.getByLabelText(/^Password/)).toHaveAttribute('minlength', '12');
    expect(screen.getByLabelText('Phone (optional)')).not.toBeRequired();
  });
});
