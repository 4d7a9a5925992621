defmodule Linx.Netfilter.Expr do
  @moduledoc """
  One nf_tables expression: what the kernel runs, step by step, for each packet.

      alias Linx.Netfilter.Expr
      [Expr.payload(:tcp_dport), Expr.cmp(:eq, <<22::16>>), Expr.counter(), Expr.immediate(:accept)]
      # or, with typed values:
      Expr.match(:tcp_dport, 22) ++ [Expr.counter(), Expr.immediate(:accept)]

  `%Expr{name, data}`: `name` is the kernel's expression name as an atom (`:payload`,
  `:cmp`, ...) and `data` a map of its attributes, named after nf_tables.h
  (`NFTA_PAYLOAD_DREG` → `:dreg`, ...). Immediates carrying a verdict hold the
  `%Linx.Netfilter.Verdict{}` itself. An expression this library does not model, as
  pulled from the kernel, keeps its kernel name as a string and `%{raw: bytes}`; it is
  sent back byte for byte.

  Registers are the kernel's numbers: `1`..`4` are the 16-byte registers (`NFT_REG_1`
  is the default everywhere), `8`..`23` the 4-byte ones used for concatenations, `0`
  the verdict register.

  Constructors raise `ArgumentError` naming the bad argument; a rule built from them is
  well-formed by construction. `match/2,3` compiles a typed comparison (`meta mark
  0x10`, `tcp dport {22, 80}`, `ip saddr 10.0.0.0/8`, `ct state established,related`)
  into the expressions nft itself would emit; it does not add nft's implicit protocol
  dependencies (`meta l4proto tcp` before `tcp dport`): add them explicitly where the
  table family needs them.
  """

  import Bitwise

  alias Linx.Netfilter.{Type, Verdict}

  @enforce_keys [:name]
  defstruct [:name, :data]

  @type t :: %__MODULE__{name: atom() | String.t(), data: term()}
  @type register :: 0..23

  @typedoc "An address as `dnat_to/3` and `snat_to/3` accept it."
  @type addr_input ::
          :inet.ip4_address() | :inet.ip6_address() | binary() | Linx.IP.t()

  # name => {payload base, offset, length, data type}; offsets from the header structs
  # in /usr/include/linux/{ip.h,ipv6.h,tcp.h,udp.h,icmp.h,if_ether.h}.
  @payload_aliases %{
    ip_saddr: {:network, 12, 4, :ipv4_addr},
    ip_daddr: {:network, 16, 4, :ipv4_addr},
    ip_protocol: {:network, 9, 1, :inet_proto},
    ip_ttl: {:network, 8, 1, nil},
    ip6_saddr: {:network, 8, 16, :ipv6_addr},
    ip6_daddr: {:network, 24, 16, :ipv6_addr},
    ip6_nexthdr: {:network, 6, 1, :inet_proto},
    ip6_hoplimit: {:network, 7, 1, nil},
    tcp_sport: {:transport, 0, 2, :inet_service},
    tcp_dport: {:transport, 2, 2, :inet_service},
    tcp_flags: {:transport, 13, 1, :tcp_flag},
    udp_sport: {:transport, 0, 2, :inet_service},
    udp_dport: {:transport, 2, 2, :inet_service},
    th_sport: {:transport, 0, 2, :inet_service},
    th_dport: {:transport, 2, 2, :inet_service},
    icmp_type: {:transport, 0, 1, :icmp_type},
    icmp_code: {:transport, 1, 1, :icmp_code},
    icmpv6_type: {:transport, 0, 1, :icmpv6_type},
    icmpv6_code: {:transport, 1, 1, :icmpv6_code},
    ether_daddr: {:link, 0, 6, :ether_addr},
    ether_saddr: {:link, 6, 6, :ether_addr},
    ether_type: {:link, 12, 2, :ether_type}
  }

  # meta key => data type of the loaded value (nft's meta_templates)
  @meta_keys %{
    len: :len32,
    protocol: :ether_type,
    priority: :classid,
    mark: :mark,
    iif: :iface_index,
    oif: :iface_index,
    iifname: :ifname,
    oifname: :ifname,
    iiftype: :iface_type,
    oiftype: :iface_type,
    skuid: :uid,
    skgid: :gid,
    nftrace: :bit8,
    rtclassid: :realm,
    secmark: :len32,
    nfproto: :nfproto,
    l4proto: :inet_proto,
    bri_iifname: :ifname,
    bri_oifname: :ifname,
    pkttype: :pkt_type,
    cpu: :len32,
    iifgroup: :devgroup,
    oifgroup: :devgroup,
    cgroup: :len32,
    prandom: :len32,
    secpath: :boolean,
    iifkind: :ifname,
    oifkind: :ifname,
    bri_iifpvid: :len16,
    bri_iifvproto: :ether_type,
    time_ns: :time,
    time_day: :time_day,
    time_hour: :time_hour,
    sdif: :iface_index,
    sdifname: :ifname,
    bri_broute: :bit8
  }

  # ct key => data type (nft's ct_templates)
  @ct_keys %{
    state: :ct_state,
    direction: :ct_dir,
    status: :ct_status,
    mark: :mark,
    secmark: :len32,
    expiration: :len32,
    helper: :string,
    l3protocol: :nfproto,
    src: :ct_addr,
    dst: :ct_addr,
    protocol: :inet_proto,
    proto_src: :inet_service,
    proto_dst: :inet_service,
    labels: :ct_label,
    pkts: :time,
    bytes: :time,
    avgpkt: :time,
    zone: :len16,
    eventmask: :len32,
    src_ip: :ipv4_addr,
    dst_ip: :ipv4_addr,
    src_ip6: :ipv6_addr,
    dst_ip6: :ipv6_addr,
    id: :len32
  }

  @cmp_ops [:eq, :neq, :lt, :lte, :gt, :gte]
  @nat_flags [:random, :fully_random, :persistent, :netmap]
  @log_flags [:tcp_seq, :tcp_opt, :ip_opt, :uid, :macdecode]
  @log_levels [:emerg, :alert, :crit, :err, :warn, :notice, :info, :debug, :audit]
  @limit_units %{second: 1, minute: 60, hour: 3600, day: 86_400, week: 604_800}

  @doc "The payload aliases `payload/2` and `match/3` know, with their base/offset/length."
  @spec payload_aliases() :: %{atom() => {atom(), non_neg_integer(), pos_integer(), atom()}}
  def payload_aliases, do: @payload_aliases

  @doc "The meta keys `meta/2` accepts."
  @spec meta_keys() :: [atom()]
  def meta_keys, do: Map.keys(@meta_keys)

  @doc "The ct keys `ct/2` accepts."
  @spec ct_keys() :: [atom()]
  def ct_keys, do: Map.keys(@ct_keys)

  # -- generic --------------------------------------------------------------------

  @doc """
  A generic expression: `name` one of the kernel's expression names this library
  models (`Linx.Netfilter.Native.tables/0` lists them) and `data` its attribute map; or
  a kernel name as a string with `%{raw: bytes}`. Raises `ArgumentError` for an unknown
  atom name (0.2 sent those with empty data).
  """
  @spec new(atom() | String.t(), term()) :: t()
  def new(name, data \\ nil)

  def new(name, data) when is_binary(name) and is_map(data) and is_map_key(data, :raw),
    do: %__MODULE__{name: name, data: data}

  def new(name, data) when is_atom(name) do
    if name in known_names() do
      %__MODULE__{name: name, data: data || %{}}
    else
      raise ArgumentError, "unknown expression name #{inspect(name)}"
    end
  end

  def new(name, data) do
    raise ArgumentError,
          "Expr.new/2 takes a known atom name, or a string name with %{raw: bytes}; got #{inspect({name, data})}"
  end

  @known ~w(immediate cmp range payload meta bitwise byteorder ct lookup dynset counter limit
            quota connlimit log queue reject nat masq redir tproxy dup fwd objref fib rt socket
            hash numgen exthdr osf synproxy xfrm last flow_offload notrack)a

  @doc false
  @spec known_names() :: [atom()]
  def known_names, do: [:__anon_set | @known]

  # -- immediate / verdicts -------------------------------------------------------

  @doc """
  An immediate: a verdict (anything `Verdict.new/1` takes) into the verdict register,
  or a binary constant into register `opts[:dreg]` (default 1).
  """
  @spec immediate(Verdict.input() | binary(), keyword()) :: t()
  def immediate(value, opts \\ [])

  def immediate(value, opts) when is_binary(value) do
    if byte_size(value) not in 1..64,
      do: raise(ArgumentError, "an immediate constant is 1..64 bytes, got #{inspect(value)}")

    %__MODULE__{name: :immediate, data: %{dreg: reg!(opts, :dreg, 1), data: value}}
  end

  def immediate(verdict, _opts), do: %__MODULE__{name: :immediate, data: Verdict.new!(verdict)}

  @doc "True for an immediate carrying a verdict."
  @spec verdict?(term()) :: boolean()
  def verdict?(%__MODULE__{name: :immediate, data: %Verdict{}}), do: true
  def verdict?(%__MODULE__{name: :immediate, data: %{dreg: 0, value: v}}), do: v != nil
  def verdict?(_), do: false

  # -- comparisons ----------------------------------------------------------------

  @doc """
  Compares register `opts[:sreg]` (default 1) with `value`: raw bytes in register
  layout, or `{type, value}` encoded by `Linx.Netfilter.Type` (`{:mark, 0x10}`,
  `{:ipv4_addr, "10.0.0.1"}`). Ops: `:eq :neq :lt :lte :gt :gte`.
  """
  @spec cmp(atom(), binary() | {atom(), term()}, keyword()) :: t()
  def cmp(op, value, opts \\ []) do
    op in @cmp_ops ||
      raise ArgumentError, "cmp op must be one of #{inspect(@cmp_ops)}, got #{inspect(op)}"

    %__MODULE__{name: :cmp, data: %{sreg: reg!(opts, :sreg, 1), op: op, data: value!(value)}}
  end

  @doc "Range match: `from <= reg <= to` (`:eq`) or outside it (`:neq`)."
  @spec range(:eq | :neq, binary() | {atom(), term()}, binary() | {atom(), term()}, keyword()) ::
          t()
  def range(op, from, to, opts \\ []) when op in [:eq, :neq] do
    %__MODULE__{
      name: :range,
      data: %{sreg: reg!(opts, :sreg, 1), op: op, from: value!(from), to: value!(to)}
    }
  end

  defp value!(b) when is_binary(b) and byte_size(b) in 1..64, do: b
  defp value!({type, v}) when is_atom(type) or is_tuple(type), do: Type.encode!(type, v)

  defp value!(other),
    do:
      raise(
        ArgumentError,
        "a compared value is 1..64 raw bytes or {type, value}, got #{inspect(other)}"
      )

  # -- loads ----------------------------------------------------------------------

  @doc """
  Loads `len` bytes at `offset` of a header (`:link`, `:network`, `:transport`,
  `:inner`) into register `opts[:dreg]` (default 1).
  """
  @spec payload(atom(), non_neg_integer(), pos_integer(), keyword()) :: t()
  def payload(base, offset, len, opts \\ [])

  def payload(base, offset, len, opts)
      when base in [:link, :network, :transport, :inner] and is_integer(offset) and offset >= 0 and
             is_integer(len) and len in 1..64 do
    %__MODULE__{
      name: :payload,
      data: %{dreg: reg!(opts, :dreg, 1), base: base, offset: offset, len: len}
    }
  end

  def payload(base, offset, len, _opts) do
    raise ArgumentError,
          "payload needs a base in [:link, :network, :transport, :inner], an offset >= 0 and a length 1..64, got #{inspect({base, offset, len})}"
  end

  @doc """
  Loads a named header field (`:ip_saddr`, `:tcp_dport`, ...; see
  `payload_aliases/0`). Raises `ArgumentError` for an unknown alias.
  """
  @spec payload(atom(), keyword()) :: t()
  def payload(alias_name, opts \\ []) do
    case Map.fetch(@payload_aliases, alias_name) do
      {:ok, {base, off, len, _}} ->
        payload(base, off, len, opts)

      :error ->
        raise ArgumentError,
              "unknown payload alias #{inspect(alias_name)}; known: #{inspect(Map.keys(@payload_aliases) |> Enum.sort())}"
    end
  end

  @doc """
  Writes register `opts[:sreg]` into the packet at `base`/`offset` (`len` bytes),
  fixing the checksum at `opts[:csum_offset]` with `opts[:csum_type]` (`:inet`).
  """
  @spec payload_set(atom(), non_neg_integer(), pos_integer(), keyword()) :: t()
  def payload_set(base, offset, len, opts \\ []) do
    %__MODULE__{data: d} = payload(base, offset, len)

    data =
      d
      |> Map.delete(:dreg)
      |> Map.put(:sreg, reg!(opts, :sreg, 1))
      |> put_opt(:csum_type, opts[:csum_type])
      |> put_opt(:csum_offset, opts[:csum_offset])
      |> put_opt(:csum_flags, opts[:csum_flags])

    %__MODULE__{name: :payload, data: data}
  end

  @doc "Loads meta key `key` (`:mark`, `:iifname`, `:l4proto`, ...) into `opts[:dreg]`."
  @spec meta(atom(), keyword()) :: t()
  def meta(key, opts \\ []) do
    meta_key!(key)
    %__MODULE__{name: :meta, data: %{dreg: reg!(opts, :dreg, 1), key: key}}
  end

  @doc "Sets meta key `key` (`:mark`, `:priority`, `:nftrace`, ...) from `opts[:sreg]`."
  @spec meta_set(atom(), keyword()) :: t()
  def meta_set(key, opts \\ []) do
    meta_key!(key)
    %__MODULE__{name: :meta, data: %{key: key, sreg: reg!(opts, :sreg, 1)}}
  end

  defp meta_key!(key) do
    Map.has_key?(@meta_keys, key) ||
      raise ArgumentError,
            "unknown meta key #{inspect(key)}; known: #{inspect(Map.keys(@meta_keys) |> Enum.sort())}"
  end

  @doc """
  Loads conntrack key `key` (`:state`, `:mark`, `:status`, ...) into `opts[:dreg]`;
  `opts[:direction]` (`:original`/`:reply`) for per-direction keys.
  """
  @spec ct(atom(), keyword()) :: t()
  def ct(key, opts \\ []) do
    ct_key!(key)

    data =
      %{dreg: reg!(opts, :dreg, 1), key: key}
      |> put_opt(:direction, direction!(opts[:direction]))

    %__MODULE__{name: :ct, data: data}
  end

  @doc "Sets conntrack key `key` (`:mark`, `:helper`, `:zone`, ...) from `opts[:sreg]`."
  @spec ct_set(atom(), keyword()) :: t()
  def ct_set(key, opts \\ []) do
    ct_key!(key)

    data =
      %{key: key, sreg: reg!(opts, :sreg, 1)}
      |> put_opt(:direction, direction!(opts[:direction]))

    %__MODULE__{name: :ct, data: data}
  end

  defp ct_key!(key) do
    Map.has_key?(@ct_keys, key) ||
      raise ArgumentError,
            "unknown ct key #{inspect(key)}; known: #{inspect(Map.keys(@ct_keys) |> Enum.sort())}"
  end

  defp direction!(nil), do: nil
  defp direction!(d) when d in [:original, :reply], do: d

  defp direction!(d),
    do: raise(ArgumentError, "ct direction must be :original or :reply, got #{inspect(d)}")

  @doc """
  `reg = (reg & mask) ^ xor` over `opts[:len]` bytes (default `byte_size(mask)`), from
  `opts[:sreg]` into `opts[:dreg]` (both default 1).
  """
  @spec bitwise(binary(), binary(), keyword()) :: t()
  def bitwise(mask, xor, opts \\ []) when is_binary(mask) and is_binary(xor) do
    len = Keyword.get(opts, :len, byte_size(mask))

    if byte_size(mask) != len or byte_size(xor) != len or len not in 1..64 do
      raise ArgumentError,
            "bitwise mask and xor must both be :len (1..64) bytes, got #{inspect({mask, xor, len})}"
    end

    %__MODULE__{
      name: :bitwise,
      data: %{
        sreg: reg!(opts, :sreg, 1),
        dreg: reg!(opts, :dreg, 1),
        len: len,
        op: :bool,
        mask: mask,
        xor: xor
      }
    }
  end

  @doc "Shifts `len` bytes of a register left (`:lshift`) or right (`:rshift`) by `bits`."
  @spec shift(:lshift | :rshift, 0..31, keyword()) :: t()
  def shift(op, bits, opts \\ []) when op in [:lshift, :rshift] and bits in 0..31 do
    %__MODULE__{
      name: :bitwise,
      data: %{
        sreg: reg!(opts, :sreg, 1),
        dreg: reg!(opts, :dreg, 1),
        len: Keyword.get(opts, :len, 4),
        op: op,
        data: <<bits::native-32>>
      }
    }
  end

  @doc "Converts `len` bytes of `size`-byte words between host and network order."
  @spec byteorder(:ntoh | :hton, pos_integer(), 2 | 4 | 8, keyword()) :: t()
  def byteorder(op, len, size, opts \\ []) when op in [:ntoh, :hton] and size in [2, 4, 8] do
    %__MODULE__{
      name: :byteorder,
      data: %{
        sreg: reg!(opts, :sreg, 1),
        dreg: reg!(opts, :dreg, 1),
        op: op,
        len: len,
        size: size
      }
    }
  end

  # -- sets -----------------------------------------------------------------------

  @doc """
  Looks register `opts[:sreg]` (default 1) up in the named set or map; for a map,
  `opts[:dreg]` receives the value (`dreg: 0` for a verdict map). `flags: [:inv]` negates.
  """
  @spec lookup(String.t(), keyword()) :: t()
  def lookup(set_name, opts \\ []) when is_binary(set_name) and set_name != "" do
    data =
      %{set: set_name, sreg: reg!(opts, :sreg, 1)}
      |> put_opt(:dreg, opts[:dreg] && reg!(opts, :dreg, 1))
      |> put_opt(:flags, flags!(opts[:flags] || [], [:inv], :lookup))

    %__MODULE__{name: :lookup, data: data}
  end

  @doc """
  An anonymous set written inline (`tcp dport { 22, 80 }`): expanded into a constant
  set plus a lookup when the rule is encoded. `key_type` is a `Linx.Netfilter.Type`
  name; values are validated and canonicalized now. Options: `:sreg`, `:flags`
  (default `[:constant]`; `:interval` for ranges and prefixes), `:inv`.
  """
  @spec set_literal([term()], Type.t(), keyword()) :: t()
  def set_literal(values, key_type, opts \\ []) when is_list(values) and values != [] do
    Type.valid?(key_type) || raise ArgumentError, "unknown set key type #{inspect(key_type)}"
    flags = opts[:flags] || [:constant]
    interval? = :interval in flags or Enum.any?(values, &interval_value?/1)
    flags = if interval? and :interval not in flags, do: flags ++ [:interval], else: flags

    if interval? and
         match?(
           {:error, _},
           Linx.Netfilter.Set.common(
             %Linx.Netfilter.Set{name: "x", key_type: key_type, flags: [:interval]},
             :bad_set
           )
         ),
       do:
         raise(
           ArgumentError,
           "interval sets of host-order keys (#{inspect(key_type)}) are not supported"
         )

    elements =
      values
      |> Enum.map(fn v ->
        case Type.canonical(key_type, v, interval: interval?) do
          {:ok, c} -> c
          {:error, why} -> raise ArgumentError, "bad anonymous set element: #{why}"
        end
      end)
      |> Enum.uniq()

    data =
      %{
        key_type: key_type,
        elements: elements,
        flags: Enum.sort(flags),
        sreg: reg!(opts, :sreg, 1)
      }
      |> put_opt(:inv, if(opts[:inv], do: true))

    %__MODULE__{name: :__anon_set, data: data}
  end

  @doc """
  An anonymous verdict map written inline (`tcp dport vmap { 22 : accept }`): pairs of
  key and verdict; encoded as an anonymous map and a lookup into the verdict register.
  """
  @spec vmap_literal([{term(), Verdict.input()}], Type.t(), keyword()) :: t()
  def vmap_literal(pairs, key_type, opts \\ []) when is_list(pairs) and pairs != [] do
    Type.valid?(key_type) || raise ArgumentError, "unknown map key type #{inspect(key_type)}"
    interval? = Enum.any?(pairs, fn {k, _} -> interval_value?(k) end)

    elements =
      Enum.map(pairs, fn
        {k, v} ->
          case Type.canonical(key_type, k, interval: interval?) do
            {:ok, c} -> {c, Verdict.new!(v)}
            {:error, why} -> raise ArgumentError, "bad anonymous map key: #{why}"
          end

        other ->
          raise ArgumentError, "a verdict map element is {key, verdict}, got #{inspect(other)}"
      end)

    flags = if interval?, do: [:constant, :interval], else: [:constant]

    %__MODULE__{
      name: :__anon_set,
      data: %{
        key_type: key_type,
        data_type: :verdict,
        elements: elements,
        flags: flags,
        sreg: reg!(opts, :sreg, 1)
      }
    }
  end

  defp interval_value?(%Range{}), do: true
  defp interval_value?(%Linx.IP.Subnet{}), do: true
  defp interval_value?({a, b}) when not is_list(b) and not is_atom(a), do: true
  defp interval_value?(s) when is_binary(s), do: String.contains?(s, "/")
  defp interval_value?(_), do: false

  @doc """
  Adds to or updates a set from the packet path (`add @set { ip saddr }`): `op` is
  `:add`, `:update` or `:delete`; options `:sreg_key` (1), `:sreg_data`, `:timeout` (ms)
  and `:exprs` (stateful expressions attached to the element, e.g. a counter or limit).
  """
  @spec dynset(:add | :update | :delete, String.t(), keyword()) :: t()
  def dynset(op, set_name, opts \\ [])
      when op in [:add, :update, :delete] and is_binary(set_name) do
    exprs = Keyword.get(opts, :exprs, [])

    Enum.all?(exprs, &match?(%__MODULE__{}, &1)) ||
      raise ArgumentError, "dynset :exprs must be expressions, got #{inspect(exprs)}"

    data =
      %{set: set_name, op: op, sreg_key: reg!(opts, :sreg_key, 1)}
      |> put_opt(:sreg_data, opts[:sreg_data] && reg!(opts, :sreg_data, 1))
      |> put_opt(:timeout, nonneg!(opts[:timeout], :timeout))
      |> put_opt(:exprs, if(exprs != [], do: exprs))
      |> put_opt(:flags, flags!(opts[:flags] || [], [:inv], :dynset))

    %__MODULE__{name: :dynset, data: data}
  end

  @doc "References a named stateful object (`counter name \"c\"`)."
  @spec objref(Linx.Netfilter.Object.kind(), String.t()) :: t()
  def objref(kind, name) when is_binary(name) and name != "" do
    kind in Linx.Netfilter.Object.kinds() ||
      raise ArgumentError, "unknown object kind #{inspect(kind)}"

    %__MODULE__{name: :objref, data: %{type: kind, name: name}}
  end

  @doc "Picks a named object through a map from register `sreg` (`counter name ip saddr map @m`)."
  @spec objref_map(String.t(), keyword()) :: t()
  def objref_map(set_name, opts \\ []) when is_binary(set_name) do
    %__MODULE__{name: :objref, data: %{set: set_name, set_sreg: reg!(opts, :sreg, 1)}}
  end

  # -- statements -----------------------------------------------------------------

  @doc """
  Rejects the packet: `:icmp_unreach` (ICMP code `opts[:icmp_code]`, default 3, port
  unreachable), `:tcp_reset`, or `:icmpx_unreach` (default code 1, port unreachable —
  0.2 used 3, which for icmpx means "administratively prohibited").
  """
  @spec reject(:icmp_unreach | :tcp_reset | :icmpx_unreach, keyword()) :: t()
  def reject(type \\ :icmp_unreach, opts \\ [])

  def reject(:tcp_reset, _opts), do: %__MODULE__{name: :reject, data: %{type: :tcp_reset}}

  def reject(type, opts) when type in [:icmp_unreach, :icmpx_unreach] do
    default = if type == :icmpx_unreach, do: 1, else: 3
    code = Keyword.get(opts, :icmp_code, default)
    code in 0..255 || raise ArgumentError, "icmp_code must be 0..255, got #{inspect(code)}"
    %__MODULE__{name: :reject, data: %{type: type, icmp_code: code}}
  end

  def reject(type, _opts) do
    raise ArgumentError,
          "reject type must be :icmp_unreach, :tcp_reset or :icmpx_unreach, got #{inspect(type)}"
  end

  @doc "A packet/byte counter (`:packets` and `:bytes` start at 0)."
  @spec counter(keyword()) :: t()
  def counter(opts \\ []) do
    %__MODULE__{
      name: :counter,
      data: %{
        packets: nonneg!(opts[:packets] || 0, :packets),
        bytes: nonneg!(opts[:bytes] || 0, :bytes)
      }
    }
  end

  @doc """
  A rate limit (`limit rate 10/second burst 5 packets`): `rate` per `unit` (`:second`
  `:minute` `:hour` `:day` `:week`). Options: `:burst` (default 5 for packets, 0 for
  bytes, as nft), `:type` (`:pkts` or `:bytes`), `:over` (match above the rate).
  """
  @spec limit(pos_integer(), atom(), keyword()) :: t()
  def limit(rate, unit, opts \\ []) when is_integer(rate) and rate > 0 do
    secs =
      Map.get(@limit_units, unit) ||
        raise ArgumentError,
              "limit unit must be one of #{inspect(Map.keys(@limit_units))}, got #{inspect(unit)}"

    type = Keyword.get(opts, :type, :pkts)
    type in [:pkts, :bytes] || raise ArgumentError, "limit type must be :pkts or :bytes"
    burst = Keyword.get(opts, :burst, if(type == :pkts, do: 5, else: 0))

    %__MODULE__{
      name: :limit,
      data:
        %{
          rate: rate,
          unit: secs,
          burst: nonneg!(burst, :burst),
          type: type
        }
        |> put_opt(:flags, if(opts[:over], do: [:inv]))
    }
  end

  @doc "A byte quota (`quota 100 mbytes`); `over: true` matches once it is used up."
  @spec quota(pos_integer(), keyword()) :: t()
  def quota(bytes, opts \\ []) when is_integer(bytes) and bytes > 0 do
    %__MODULE__{
      name: :quota,
      data:
        %{bytes: bytes, consumed: nonneg!(opts[:consumed] || 0, :consumed)}
        |> put_opt(:flags, if(opts[:over], do: [:inv]))
    }
  end

  @doc "Limits concurrent connections (`ct count 10`); `over: true` matches above it."
  @spec connlimit(pos_integer(), keyword()) :: t()
  def connlimit(count, opts \\ []) when is_integer(count) and count > 0 do
    %__MODULE__{
      name: :connlimit,
      data: put_opt(%{count: count}, :flags, if(opts[:over], do: [:inv]))
    }
  end

  @doc """
  NAT (`:snat` or `:dnat`) from registers: `:family` (`:ip` default, or `:ip6`),
  `:reg_addr_min/max`, `:reg_proto_min/max`, `:flags` (#{inspect(@nat_flags)}). The
  kernel adds `map_ips`/`proto_specified` when address/port registers are given; the
  constructor does the same, so a pulled rule compares equal.
  """
  @spec nat(:snat | :dnat, keyword()) :: t()
  def nat(type, opts \\ []) when type in [:snat, :dnat] do
    family = Keyword.get(opts, :family, :ip)
    family in [:ip, :ip6] || raise ArgumentError, "nat family must be :ip or :ip6"
    flags = flags!(opts[:flags] || [], @nat_flags, :nat)

    flags =
      flags
      |> add_if(opts[:reg_addr_min] != nil, :map_ips)
      |> add_if(opts[:reg_proto_min] != nil, :proto_specified)

    # The kernel fills a missing max register with the min one, and dumps both.
    addr_min = opts[:reg_addr_min] && reg!(opts, :reg_addr_min, 1)
    addr_max = (opts[:reg_addr_max] && reg!(opts, :reg_addr_max, 1)) || addr_min
    proto_min = opts[:reg_proto_min] && reg!(opts, :reg_proto_min, 1)
    proto_max = (opts[:reg_proto_max] && reg!(opts, :reg_proto_max, 1)) || proto_min

    data =
      %{type: type, family: family}
      |> put_opt(:reg_addr_min, addr_min)
      |> put_opt(:reg_addr_max, addr_max)
      |> put_opt(:reg_proto_min, proto_min)
      |> put_opt(:reg_proto_max, proto_max)
      |> put_opt(:flags, if(flags != [], do: sort_flags(flags)))

    %__MODULE__{name: :nat, data: data}
  end

  @doc """
  DNAT to an address (and port): a list of an immediate loading the address (register
  `opts[:reg_addr]`, default 1), an optional port immediate (`opts[:reg_port]`, 2), and
  the `nat` expression. `addr` is a 4- or 8-tuple, a 4- or 16-byte binary, a string or
  a `%Linx.IP{}`.
  """
  @spec dnat_to(addr_input(), 0..65535 | nil, keyword()) :: [t()]
  def dnat_to(addr, port \\ nil, opts \\ []), do: nat_to(:dnat, addr, port, opts)

  @doc "SNAT to an address (and port); see `dnat_to/3`."
  @spec snat_to(addr_input(), 0..65535 | nil, keyword()) :: [t()]
  def snat_to(addr, port \\ nil, opts \\ []), do: nat_to(:snat, addr, port, opts)

  defp nat_to(type, addr, port, opts) do
    ip = to_ip!(addr)
    family = if ip.family == :inet, do: :ip, else: :ip6
    reg_addr = reg!(opts, :reg_addr, 1)
    reg_port = reg!(opts, :reg_port, 2)

    port_exprs =
      case port do
        nil -> []
        p when is_integer(p) and p in 0..65535 -> [immediate(<<p::16>>, dreg: reg_port)]
        p -> raise ArgumentError, "port must be 0..65535, got #{inspect(p)}"
      end

    nat_opts =
      [family: family, reg_addr_min: reg_addr, flags: opts[:flags] || []] ++
        if(port, do: [reg_proto_min: reg_port], else: [])

    [immediate(ip.bytes, dreg: reg_addr)] ++ port_exprs ++ [nat(type, nat_opts)]
  end

  defp to_ip!(addr) do
    case Type.canonical(:ipv4_addr, addr) do
      {:ok, ip} ->
        ip

      {:error, _} ->
        case Type.canonical(:ipv6_addr, addr) do
          {:ok, ip} -> ip
          {:error, _} -> raise ArgumentError, "not an IPv4 or IPv6 address: #{inspect(addr)}"
        end
    end
  end

  @doc """
  Masquerade: `:flags` (`:random`, `:fully_random`, `:persistent`), `:port_min` and
  `:port_max` (loaded into `opts[:reg_proto]`, default 1, and the next register).
  Returns one expression, or a list when ports are given.
  """
  @spec masquerade(keyword()) :: t() | [t()]
  def masquerade(opts \\ []) do
    flags = flags!(opts[:flags] || [], [:random, :fully_random, :persistent], :masquerade)
    port_nat(:masq, flags, opts)
  end

  @doc "Redirect to a local port (`:port`); `:flags` `:random`, `:fully_random`."
  @spec redirect(keyword()) :: t() | [t()]
  def redirect(opts \\ []) do
    flags = flags!(opts[:flags] || [], [:random, :fully_random], :redirect)
    opts = if opts[:port], do: Keyword.put_new(opts, :port_min, opts[:port]), else: opts
    port_nat(:redir, flags, opts)
  end

  defp port_nat(name, flags, opts) do
    reg = reg!(opts, :reg_proto, 1)

    case {opts[:port_min], opts[:port_max]} do
      {nil, nil} ->
        %__MODULE__{
          name: name,
          data: put_opt(%{}, :flags, if(flags != [], do: sort_flags(flags)))
        }

      {min, max} ->
        port!(min)
        max = max || min
        port!(max)
        flags = sort_flags([:proto_specified | flags])

        loads =
          if max == min,
            do: [immediate(<<min::16>>, dreg: reg)],
            else: [immediate(<<min::16>>, dreg: reg), immediate(<<max::16>>, dreg: reg + 1)]

        data = %{
          flags: flags,
          reg_proto_min: reg,
          reg_proto_max: if(max != min, do: reg + 1, else: reg)
        }

        loads ++ [%__MODULE__{name: name, data: data}]
    end
  end

  defp port!(p) when is_integer(p) and p in 0..65535, do: p
  defp port!(p), do: raise(ArgumentError, "port must be 0..65535, got #{inspect(p)}")

  @doc """
  Logs the packet. With a `:group` (default 5000, as 0.2) it goes to NFLOG
  (`nfnetlink_log`), with `:prefix`, `:snaplen`, `:qthreshold`; with `group: nil` and a
  `:level` (`:emerg` .. `:debug`, `:audit`) to the kernel log. `:flags`:
  #{inspect(@log_flags)}.
  """
  @spec log(keyword()) :: t()
  def log(opts \\ []) do
    group = Keyword.get(opts, :group, if(opts[:level], do: nil, else: 5000))
    # The kernel log needs a level; the kernel defaults (and dumps) warn.
    level = opts[:level] || if(group == nil, do: :warn)

    if level && level not in @log_levels,
      do:
        raise(
          ArgumentError,
          "log level must be one of #{inspect(@log_levels)}, got #{inspect(level)}"
        )

    if level && group,
      do: raise(ArgumentError, "log takes a :group (NFLOG) or a :level (kernel log), not both")

    if group && group not in 0..65535,
      do: raise(ArgumentError, "log group must be 0..65535, got #{inspect(group)}")

    prefix = opts[:prefix]

    if prefix &&
         (not is_binary(prefix) or byte_size(prefix) > 127 or String.contains?(prefix, <<0>>)),
       do:
         raise(
           ArgumentError,
           "log prefix must be a string of at most 127 bytes, got #{inspect(prefix)}"
         )

    flags = flags!(opts[:flags] || [], @log_flags, :log)

    if flags != [] and group,
      do:
        raise(
          ArgumentError,
          "log :flags apply to the kernel log (a :level), not to an NFLOG :group"
        )

    data =
      %{}
      |> put_opt(:group, group)
      |> put_opt(:prefix, prefix)
      |> put_opt(:snaplen, opts[:snaplen] && nonneg!(opts[:snaplen], :snaplen))
      |> put_opt(:qthreshold, opts[:qthreshold] && nonneg!(opts[:qthreshold], :qthreshold))
      |> put_opt(:level, level)
      |> put_opt(:flags, if(flags != [], do: sort_flags(flags)))

    %__MODULE__{name: :log, data: data}
  end

  @doc """
  Queues the packet to userspace (`queue num 3 bypass`): `:num` (0), `:total` (for a
  range of queues), `:flags` (`:bypass`, `:fanout`).
  """
  @spec queue(keyword()) :: t()
  def queue(opts \\ []) do
    num = Keyword.get(opts, :num, 0)
    num in 0..65535 || raise ArgumentError, "queue num must be 0..65535, got #{inspect(num)}"
    flags = flags!(opts[:flags] || [], [:bypass, :fanout], :queue)

    data =
      %{num: num}
      |> put_opt(:total, opts[:total])
      |> put_opt(:flags, if(flags != [], do: sort_flags(flags)))

    %__MODULE__{name: :queue, data: data}
  end

  @doc """
  A FIB lookup (`fib daddr . iif type`): `result` is `:oif`, `:oifname` or `:addrtype`;
  `flags` among `:saddr :daddr :mark :iif :oif :present`.
  """
  @spec fib(:oif | :oifname | :addrtype, [atom()], keyword()) :: t()
  def fib(result, flags, opts \\ []) when result in [:oif, :oifname, :addrtype] do
    flags = flags!(flags, [:saddr, :daddr, :mark, :iif, :oif, :present], :fib)

    %__MODULE__{
      name: :fib,
      data: %{dreg: reg!(opts, :dreg, 1), result: result, flags: sort_flags(flags)}
    }
  end

  @doc """
  Hashes `len` bytes of `opts[:sreg]` (jhash) modulo `modulus`, plus `:offset`, with
  `:seed`; or `type: :sym` for a symmetric hash of the flow (no source register).
  """
  @spec hash(pos_integer(), keyword()) :: t()
  def hash(modulus, opts \\ []) when is_integer(modulus) and modulus > 0 do
    type = Keyword.get(opts, :type, :jenkins)

    base = %{dreg: reg!(opts, :dreg, 1), modulus: modulus, type: type}

    data =
      case type do
        :jenkins ->
          base
          |> Map.merge(%{
            sreg: reg!(opts, :sreg, 1),
            len: Keyword.get(opts, :len, 4),
            seed: Keyword.get(opts, :seed, 0)
          })
          |> put_opt(:offset, nonzero(opts[:offset]))

        :sym ->
          put_opt(base, :offset, nonzero(opts[:offset]))

        other ->
          raise ArgumentError, "hash type must be :jenkins or :sym, got #{inspect(other)}"
      end

    %__MODULE__{name: :hash, data: data}
  end

  @doc "A number generator (`numgen inc mod 2`): `type` `:inc` or `:random`, `:offset`."
  @spec numgen(:inc | :random, pos_integer(), keyword()) :: t()
  def numgen(type, modulus, opts \\ [])
      when type in [:inc, :random] and is_integer(modulus) and modulus > 0 do
    data =
      %{dreg: reg!(opts, :dreg, 1), modulus: modulus, type: type}
      |> put_opt(:offset, nonzero(opts[:offset]))

    %__MODULE__{name: :numgen, data: data}
  end

  @doc "Socket lookup (`socket transparent`): `key` `:transparent`, `:mark`, `:wildcard`, `:cgroupv2` (with `:level`)."
  @spec socket(atom(), keyword()) :: t()
  def socket(key, opts \\ []) when key in [:transparent, :mark, :wildcard, :cgroupv2] do
    data =
      %{key: key, dreg: reg!(opts, :dreg, 1)}
      |> put_opt(:level, if(key == :cgroupv2, do: Keyword.get(opts, :level, 0)))

    %__MODULE__{name: :socket, data: data}
  end

  @doc """
  Loads an extension header or option field: `op` `:ipv6` (IPv6 extension header
  `type`), `:tcpopt` (TCP option `type`), `:ipv4`, `:sctp`, `:dccp`; `offset`/`len` in
  bytes; `present: true` to test only for presence.
  """
  @spec exthdr(atom(), 0..255, non_neg_integer(), pos_integer(), keyword()) :: t()
  def exthdr(op, type, offset, len, opts \\ [])
      when op in [:ipv6, :tcpopt, :ipv4, :sctp, :dccp] and type in 0..255 do
    data =
      %{dreg: reg!(opts, :dreg, 1), type: type, offset: offset, len: len, op: op}
      |> put_opt(:flags, if(opts[:present], do: [:present]))

    %__MODULE__{name: :exthdr, data: data}
  end

  @doc "Routing data (`rt classid`, `rt nexthop`, `rt mtu`): key `:classid :nexthop4 :nexthop6 :tcpmss :xfrm`."
  @spec rt(atom(), keyword()) :: t()
  def rt(key, opts \\ []) when key in [:classid, :nexthop4, :nexthop6, :tcpmss, :xfrm] do
    %__MODULE__{name: :rt, data: %{dreg: reg!(opts, :dreg, 1), key: key}}
  end

  @doc "Stops conntrack for the packet (`notrack`)."
  @spec notrack() :: t()
  def notrack, do: %__MODULE__{name: :notrack, data: %{}}

  @doc "SYN proxy (`synproxy mss 1460 wscale 7 timestamp sack-perm`)."
  @spec synproxy(keyword()) :: t()
  def synproxy(opts \\ []) do
    flags =
      [mss: opts[:mss] != nil, wscale: opts[:wscale] != nil]
      |> Enum.filter(&elem(&1, 1))
      |> Enum.map(&elem(&1, 0))
      |> Kernel.++(flags!(opts[:flags] || [], [:sack_perm, :timestamp, :ecn], :synproxy))

    data =
      %{flags: sort_flags(flags)}
      |> put_opt(:mss, opts[:mss])
      |> put_opt(:wscale, opts[:wscale])

    %__MODULE__{name: :synproxy, data: data}
  end

  @doc "Transparent proxy to registers: `:family` (`:ip`, `:ip6`, `:inet`), `:reg_addr`, `:reg_port`."
  @spec tproxy(keyword()) :: t()
  def tproxy(opts) do
    data =
      %{family: Keyword.get(opts, :family, :ip)}
      |> put_opt(:reg_addr, opts[:reg_addr])
      |> put_opt(:reg_port, opts[:reg_port])

    %__MODULE__{name: :tproxy, data: data}
  end

  # -- typed matches ----------------------------------------------------------------

  @doc """
  A typed match, compiled as nft compiles it:

    * `selector` is a payload alias (`:tcp_dport`, `:ip_saddr`, ...), `{:meta, key}` /
      `:meta_<key>`, or `{:ct, key}` / `:ct_<key>`;
    * `value` a single value (`cmp`), a list (anonymous set lookup), a range
      (`lo..hi` or `{lo, hi}`: `range`), a prefix (`"10.0.0.0/8"`: `bitwise` + `cmp`), or
      for flag types (`:ct_state`, `:ct_status`, `:tcp_flag`) a list of flags, tested
      with `bitwise` + `cmp neq 0`.

  `op` is `:eq` (default) or `:neq`, or an ordering op for single values.

      iex> Linx.Netfilter.Expr.match(:meta_mark, 0x10) |> Enum.map(& &1.name)
      [:meta, :cmp]
  """
  @spec match(atom() | {atom(), atom()}, atom(), term()) :: [t()]
  def match(selector, op \\ :eq, value) do
    {load, type} = selector!(selector)

    case prefix_match(load, type, op, value) do
      nil -> [load | match_value(type, op, value)]
      exprs -> exprs
    end
  end

  # nft loads only the bytes a byte-aligned prefix covers: `ip saddr 10.0.0.0/8` is a
  # 1-byte load and compare; other prefixes load the whole address and mask it.
  defp prefix_match(%__MODULE__{name: :payload, data: d}, type, op, value)
       when type in [:ipv4_addr, :ipv6_addr] and op in [:eq, :neq] and not is_list(value) do
    case Type.canonical(type, value, interval: true) do
      {:ok, %Linx.IP.Subnet{address: ip, prefix: p}}
      when p > 0 and p < bit_size(ip.bytes) and rem(p, 8) == 0 ->
        bytes = div(p + 7, 8)
        load = payload(d.base, d.offset, bytes, dreg: d.dreg)
        want = binary_part(ip.bytes, 0, bytes)

        [load, cmp(op, want, sreg: d.dreg)]

      _ ->
        nil
    end
  end

  defp prefix_match(_load, _type, _op, _value), do: nil

  defp selector!({:meta, key}) do
    meta_key!(key)
    {meta(key), Map.fetch!(@meta_keys, key)}
  end

  defp selector!({:ct, key}) do
    ct_key!(key)
    {ct(key), Map.fetch!(@ct_keys, key)}
  end

  defp selector!(sel) when is_atom(sel) do
    case Map.fetch(@payload_aliases, sel) do
      {:ok, {_, _, len, type}} ->
        {payload(sel), type || {:int, len}}

      :error ->
        case Atom.to_string(sel) do
          "meta_" <> key -> selector!({:meta, existing_atom!(key, sel)})
          "ct_" <> key -> selector!({:ct, existing_atom!(key, sel)})
          _ -> raise ArgumentError, "unknown match selector #{inspect(sel)}"
        end
    end
  end

  defp selector!(sel), do: raise(ArgumentError, "unknown match selector #{inspect(sel)}")

  defp existing_atom!(s, sel) do
    String.to_existing_atom(s)
  rescue
    ArgumentError ->
      reraise ArgumentError, "unknown match selector #{inspect(sel)}", __STACKTRACE__
  end

  @flag_types [:ct_state, :ct_status, :tcp_flag]

  # Flags are tested with a mask, `!= 0`, whether one flag or several are named.
  defp match_value(type, op, value)
       when type in @flag_types and is_atom(value) and op in [:eq, :neq],
       do: match_value(type, op, [value])

  defp match_value(type, op, value)
       when type in @flag_types and is_list(value) and op in [:eq, :neq] do
    bits = flag_bits!(type, value)
    len = type_len(type)
    mask = encode_int(type, bits, len)
    zero = <<0::size(len * 8)>>
    [bitwise(mask, zero), cmp(if(op == :eq, do: :neq, else: :eq), zero)]
  end

  defp match_value(type, op, value)
       when is_list(value) and op in [:eq, :neq] and not is_tuple(type) do
    [set_literal(value, type, inv: op == :neq)]
  end

  # The kernel orders values by their bytes; host-order values (marks, uids, lengths)
  # are turned big-endian first with a byteorder expression, as nft does.
  defp match_value(type, op, %Range{first: a, last: b}) when op in [:eq, :neq],
    do: ordered(type, fn conv -> range_match(op, conv.(a), conv.(b)) end)

  defp match_value(type, op, {a, b})
       when op in [:eq, :neq] and type not in [:ipv4_addr, :ipv6_addr],
       do: ordered(type, fn conv -> range_match(op, conv.(a), conv.(b)) end)

  defp match_value(type, op, value) when op in [:lt, :gt, :lte, :gte],
    do: ordered(type, fn conv -> [cmp(op, conv.(value))] end)

  defp match_value(type, op, value)
       when type in [:ipv4_addr, :ipv6_addr] and op in [:eq, :neq] do
    case Type.canonical(type, value, interval: true) do
      {:ok, %Linx.IP.Subnet{address: ip, prefix: p}} ->
        bits = bit_size(ip.bytes)

        if p == bits do
          [cmp(op, ip.bytes)]
        else
          mask = <<-1 <<< (bits - p)::size(bits)>>
          [bitwise(mask, <<0::size(bits)>>), cmp(op, ip.bytes)]
        end

      {:ok, {lo, hi}} ->
        range_match(op, lo.bytes, hi.bytes)

      {:ok, ip} ->
        [cmp(op, ip.bytes)]

      {:error, why} ->
        raise ArgumentError, why
    end
  end

  defp match_value(type, op, value), do: [cmp(op, typed(type, value))]

  defp ordered(type, fun) do
    case host_size(type) do
      nil ->
        fun.(&typed(type, &1))

      size ->
        be = fn v -> <<:binary.decode_unsigned(typed(type, v), :little)::size(size * 8)>> end
        [byteorder(:hton, size, size) | fun.(be)]
    end
  end

  # Host-order types and their size (the layout of Linx.Netfilter.Type or the
  # register width of the untyped meta/ct keys).
  defp host_size(:len32), do: 4
  defp host_size(:len16), do: 2
  defp host_size(:time), do: 8

  defp host_size(type) when is_atom(type) do
    if Type.valid?(type) and Type.byteorder(type) == :host and Type.len(type) in [2, 4, 8],
      do: Type.len(type),
      else: nil
  end

  defp host_size(_), do: nil

  # As nft: an inclusive range is two comparisons; its negation the range expression.
  defp range_match(:eq, lo, hi), do: [cmp(:gte, lo), cmp(:lte, hi)]
  defp range_match(:neq, lo, hi), do: [range(:neq, lo, hi)]

  defp typed({:int, len}, v) when is_integer(v), do: <<v::size(len * 8)>>
  defp typed(:len32, v) when is_integer(v), do: <<v::native-32>>
  defp typed(:len16, v) when is_integer(v), do: <<v::native-16>>
  defp typed(:bit8, v) when is_integer(v), do: <<v::8>>
  defp typed(:ct_addr, v), do: to_ip!(v).bytes
  defp typed(type, v), do: Type.encode!(type, v)

  defp type_len(:tcp_flag), do: 1
  defp type_len(_), do: 4

  defp encode_int(:tcp_flag, bits, 1), do: <<bits::8>>
  defp encode_int(_, bits, 4), do: <<bits::native-32>>

  # /usr/include/linux/tcp.h flag bits as nft names them; ct status from
  # nf_conntrack_common.h IPS_* bits.
  @tcp_flags %{
    fin: 0x01,
    syn: 0x02,
    rst: 0x04,
    psh: 0x08,
    ack: 0x10,
    urg: 0x20,
    ecn: 0x40,
    cwr: 0x80
  }
  @ct_status %{
    expected: 1,
    seen_reply: 2,
    assured: 4,
    confirmed: 8,
    snat: 16,
    dnat: 32,
    dying: 512
  }

  defp flag_bits!(:ct_state, v),
    do: Type.ct_state_bits(v) || raise(ArgumentError, "bad ct state #{inspect(v)}")

  defp flag_bits!(:tcp_flag, v), do: bits_from!(v, @tcp_flags, :tcp_flags)
  defp flag_bits!(:ct_status, v), do: bits_from!(v, @ct_status, :ct_status)

  defp bits_from!(list, table, what) do
    Enum.reduce(list, 0, fn f, acc ->
      case Map.fetch(table, f) do
        {:ok, b} ->
          acc ||| b

        :error ->
          raise ArgumentError,
                "unknown #{what} flag #{inspect(f)}; known: #{inspect(Map.keys(table))}"
      end
    end)
  end

  # -- helpers ----------------------------------------------------------------------

  defp reg!(opts, key, default) do
    case Keyword.get(opts, key, default) do
      r when is_integer(r) and (r in 0..4 or r in 8..23) -> r
      r -> raise ArgumentError, "#{key} must be a register (0..4 or 8..23), got #{inspect(r)}"
    end
  end

  defp nonneg!(nil, _key), do: nil
  defp nonneg!(n, _key) when is_integer(n) and n >= 0, do: n

  defp nonneg!(n, key),
    do: raise(ArgumentError, "#{key} must be a non-negative integer, got #{inspect(n)}")

  defp nonzero(nil), do: nil
  defp nonzero(0), do: nil
  defp nonzero(n) when is_integer(n) and n > 0, do: n

  defp flags!(flags, allowed, what) when is_list(flags) do
    case Enum.reject(flags, &(&1 in allowed)) do
      [] ->
        Enum.uniq(flags)

      bad ->
        raise ArgumentError,
              "unknown #{what} flag(s) #{inspect(bad)}; allowed: #{inspect(allowed)}"
    end
  end

  defp flags!(flags, _allowed, what),
    do: raise(ArgumentError, "#{what} flags must be a list, got #{inspect(flags)}")

  defp add_if(list, true, flag), do: if(flag in list, do: list, else: [flag | list])
  defp add_if(list, false, _flag), do: list

  # Flag lists are kept in the kernel's bit order, which is how the decoder returns them.
  @flag_order [
    :map_ips,
    :proto_specified,
    :random,
    :persistent,
    :fully_random,
    :proto_offset,
    :netmap,
    :tcp_seq,
    :tcp_opt,
    :ip_opt,
    :uid,
    :nflog,
    :macdecode,
    :saddr,
    :daddr,
    :mark,
    :iif,
    :oif,
    :present,
    :bypass,
    :fanout,
    :mss,
    :wscale,
    :sack_perm,
    :timestamp,
    :ecn,
    :inv
  ]

  @doc false
  @spec sort_flags([atom()]) :: [atom()]
  def sort_flags(flags) do
    Enum.sort_by(flags, fn f -> Enum.find_index(@flag_order, &(&1 == f)) || 999 end)
  end

  defp put_opt(map, _key, nil), do: map
  defp put_opt(map, _key, []), do: map
  defp put_opt(map, key, value), do: Map.put(map, key, value)

  defimpl Inspect do
    def inspect(%{name: :immediate, data: %Linx.Netfilter.Verdict{kind: k, target: nil}}, _),
      do: "#Linx.Netfilter.Expr<immediate #{k}>"

    def inspect(%{name: :immediate, data: %Linx.Netfilter.Verdict{kind: k, target: t}}, _),
      do: "#Linx.Netfilter.Expr<immediate #{k} #{t}>"

    def inspect(%{name: name}, _), do: "#Linx.Netfilter.Expr<#{name}>"
  end
end
