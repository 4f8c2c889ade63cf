import { expect } from 'chai';
import { classifyAddress, embeddedIpv4, embeddedIpv4s, isAllowedAddress, literalHostRefusal, type AddressCategory } from '../../shared/net/address-policy.js';

const REFUSED: Array<[string, AddressCategory]> = [
  // IPv4
  ['127.0.0.1', 'loopback'],
  ['127.255.255.254', 'loopback'],
  ['10.0.0.5', 'private'],
  ['10.255.255.255', 'private'],
  ['172.16.0.1', 'private'],
  ['172.31.255.255', 'private'],
  ['192.168.1.1', 'private'],
  ['169.254.169.254', 'metadata'],
  ['169.254.170.2', 'metadata'],
  ['169.254.0.1', 'link-local'],
  ['169.254.255.255', 'link-local'],
  ['100.64.0.1', 'cgnat'],
  ['100.100.100.200', 'cgnat'],
  ['100.127.255.255', 'cgnat'],
  ['0.0.0.0', 'unspecified'],
  ['0.1.2.3', 'unspecified'],
  ['224.0.0.1', 'multicast'],
  ['239.255.255.250', 'multicast'],
  ['255.255.255.255', 'reserved'],
  ['240.0.0.1', 'reserved'],
  ['192.0.0.8', 'reserved'],
  ['192.0.2.10', 'reserved'],
  ['198.18.0.1', 'reserved'],
  ['198.51.100.7', 'reserved'],
  ['203.0.113.9', 'reserved'],
  // IPv6
  ['::1', 'loopback'],
  ['[::1]', 'loopback'],
  ['0:0:0:0:0:0:0:1', 'loopback'],
  ['::', 'unspecified'],
  ['fc00::1', 'private'],
  ['fd12:3456:789a::1', 'private'],
  ['FD00::1', 'private'],
  ['fd00:ec2::254', 'metadata'],
  ['[fd00:ec2::254]', 'metadata'],
  ['fe80::1', 'link-local'],
  ['fe80::1%eth0', 'link-local'],
  ['febf:ffff::1', 'link-local'],
  ['fec0::1', 'private'],
  ['ff02::1', 'multicast'],
  ['ff05::1:3', 'multicast'],
  ['2001:db8::1', 'reserved'],
  ['100::1', 'reserved'],
  // IPv6 carrying a refused IPv4 address
  ['::ffff:127.0.0.1', 'loopback'],
  ['::ffff:7f00:1', 'loopback'],
  ['[::ffff:7f00:1]', 'loopback'],
  ['::ffff:10.0.0.5', 'private'],
  ['::ffff:169.254.169.254', 'metadata'],
  ['::ffff:a9fe:a9fe', 'metadata'],
  ['::ffff:0.0.0.0', 'unspecified'],
  ['::ffff:100.64.0.1', 'cgnat'],
  ['::127.0.0.1', 'loopback'],
  ['64:ff9b::127.0.0.1', 'loopback'],
  ['64:ff9b::a9fe:a9fe', 'metadata'],
  // Local-use NAT64 (RFC 8215) reaches the operator's own IPv4 network, whatever address it embeds.
  ['64:ff9b:1::7f00:1', 'reserved'],
  ['64:ff9b:1:a9fe:a9:fe00::', 'reserved'],
  ['64:ff9b:1::808:808', 'reserved'],
  ['2002:7f00:1::', 'loopback'],
  ['2002:c0a8:101::1', 'private'],
  // IPv4-translated (RFC 2765) and Teredo (RFC 4380: server, and client stored inverted)
  ['::ffff:0:127.0.0.1', 'loopback'],
  ['[::ffff:0:7f00:1]', 'loopback'],
  ['::ffff:0:a9fe:a9fe', 'metadata'],
  ['::ffff:0:10.1.2.3', 'private'],
  ['2001:0:4136:e378:8000:63bf:80ff:fffe', 'loopback'],
  ['2001:0:a00:1:8000:63bf:f7f7:f7f7', 'private'],
  ['2001::a9fe:a9fe:0:0:5601:5601', 'metadata'],
];

const ALLOWED = [
  '1.1.1.1',
  '8.8.8.8',
  '93.184.216.34',
  '172.15.255.255',
  '172.32.0.1',
  '100.63.255.255',
  '100.128.0.1',
  '169.253.255.255',
  '169.255.0.1',
  '192.169.0.1',
  '11.0.0.1',
  '126.255.255.255',
  '128.0.0.1',
  '223.255.255.255',
  '2606:4700:4700::1111',
  '2001:4860:4860::8888',
  '[2a00:1450:4001:80b::200e]',
  '::ffff:8.8.8.8',
  '64:ff9b::808:808',
  '2002:808:808::1',
  '::ffff:0:8.8.8.8',
  '2001:0:4136:e378:8000:63bf:f7f7:f7f7',
  'fbff::1',
  'fe7f::1',
];

describe('address policy (SSRF guard)', () => {
  for (const [address, category] of REFUSED) {
    it(`refuses ${address} as ${category}`, () => {
      const verdict = classifyAddress(address);
      expect(verdict.category).to.equal(category);
      expect(verdict.allowed).to.equal(false);
      expect(isAllowedAddress(address)).to.equal(false);
    });
  }

  for (const address of ALLOWED) {
    it(`allows the public address ${address}`, () => {
      expect(classifyAddress(address)).to.include({ category: 'public', allowed: true });
    });
  }

  it('calls anything that is not an IP literal invalid and refuses it', () => {
    for (const s of ['', 'localhost', 'example.com', '1.2.3', '256.0.0.1', ':::1', '1.2.3.4.5', 'fe80::1%']) {
      expect(classifyAddress(s), s).to.include({ allowed: false });
    }
    expect(classifyAddress('example.com').category).to.equal('invalid');
  });

  it('finds the IPv4 address an IPv6 address carries', () => {
    expect(embeddedIpv4('::ffff:127.0.0.1')).to.equal('127.0.0.1');
    expect(embeddedIpv4('::ffff:a9fe:a9fe')).to.equal('169.254.169.254');
    expect(embeddedIpv4('64:ff9b::a00:5')).to.equal('10.0.0.5');
    expect(embeddedIpv4('2002:c0a8:101::')).to.equal('192.168.1.1');
    expect(embeddedIpv4('::ffff:0:7f00:1')).to.equal('127.0.0.1');
    expect(embeddedIpv4s('2001:0:4136:e378:8000:63bf:80ff:fffe')).to.deep.equal(['127.0.0.1', '65.54.227.120']);
    expect(embeddedIpv4('::1')).to.equal(undefined);
    expect(embeddedIpv4('::')).to.equal(undefined);
    expect(embeddedIpv4('2606:4700:4700::1111')).to.equal(undefined);
    expect(embeddedIpv4('1.2.3.4')).to.equal(undefined);
  });

  describe('at submission (literal hosts and metadata names, no DNS)', () => {
    // As WHATWG URL gives them: every IPv4 spelling is normalised to dotted decimal, IPv6 is bracketed.
    const hostOf = (url: string) => new URL(url).hostname;

    it('refuses literal IPs the policy refuses, however the URL spells them', () => {
      for (const url of [
        'http://169.254.169.254/latest/meta-data',
        'http://127.0.0.1:1/x',
        'http://[::1]/',
        'http://2130706433/',
        'http://0x7f.1/',
        'http://127.1/',
        'http://017700000001/',
        'http://[::ffff:127.0.0.1]/',
        'http://[::ffff:0:127.0.0.1]/',
        'http://[::ffff:0:a9fe:a9fe]/',
        'http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/',
        'http://[fd00:ec2::254]/',
        'http://0.0.0.0/',
        'http://10.1.2.3/',
        'https://192.168.0.10:8443/hook',
      ]) {
        expect(literalHostRefusal(hostOf(url)), url).to.be.a('string');
      }
      expect(literalHostRefusal('169.254.169.254')).to.equal('host 169.254.169.254 is a cloud metadata address');
    });

    it('refuses cloud metadata names, whatever their case and with a trailing dot', () => {
      for (const url of ['http://metadata.google.internal/computeMetadata/v1/', 'http://Metadata.Google.Internal./', 'http://metadata.goog/', 'http://instance-data/']) {
        expect(literalHostRefusal(hostOf(url)), url).to.match(/cloud metadata/);
      }
    });

    it('passes public literal IPs and any other name (its addresses are checked at delivery)', () => {
      for (const url of ['http://8.8.8.8/', 'http://[2606:4700:4700::1111]/', 'https://example.com/hook', 'http://localhost:8080/', 'http://internal.corp/']) {
        expect(literalHostRefusal(hostOf(url)), url).to.equal(undefined);
      }
    });
  });
});
