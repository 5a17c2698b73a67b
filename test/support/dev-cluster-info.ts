// What test/global-setup.ts hands to the workerd project (bindings) about the test cluster,
// identity provider and events receiver. Types only, so both Node and workerd code can import it.
export interface DevClusterInfo {
  url: string;
  caPem: string;
  serviceAccountToken: string;
  readonlyServiceAccountToken: string;
  serverToken: string;
  controlToken: string;
  jwtIssuers: string;
  issuerUrl: string;
  issuerPrivateKeys: string;
  eventsUrl: string;
}
