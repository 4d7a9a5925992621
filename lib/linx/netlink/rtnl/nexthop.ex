defmodule Linx.Netlink.Rtnl.Nexthop.Group do
  @moduledoc false
  # Codec type for NHA_GROUP: an array of `struct nexthop_grp` (/usr/include/linux/nexthop.h)
  # as `{id, weight}` pairs. The kernel stores weight - 1; the byte after it, `resvd1` in
  # the 6.1 header, is `weight_high` since Linux 6.12 (16-bit weights), so it is read as
  # the high byte: zero on older kernels.

  @spec encode([{pos_integer(), 1..65536}]) :: binary()
  def encode(members) when is_list(members) do
    for {id, weight} <- members, into: <<>> do
      w = weight - 1
      <<id::native-32, Bitwise.band(w, 0xFF)::8, Bitwise.bsr(w, 8)::8, 0::16>>
    end
  end

  @spec decode(binary()) :: [{non_neg_integer(), pos_integer()}]
  def decode(bin), do: decode(bin, [])

  defp decode(<<id::native-32, low::8, high::8, _resvd2::16, rest::binary>>, acc),
    do: decode(rest, [{id, high * 256 + low + 1} | acc])

  defp decode(_rest, acc), do: Enum.reverse(acc)
end

defmodule Linx.Netlink.Rtnl.Nexthop.ResGroup do
  @moduledoc """
  The parameters of a resilient nexthop group (`NHA_RES_GROUP`,
  `/usr/include/linux/nexthop.h`): `buckets`, and `idle_timer`, `unbalanced_timer`,
  `unbalanced_time` in clock ticks (`USER_HZ`, 100 per second; `ip nexthop` prints
  seconds).
  """

  use Linx.Netlink.Codec

  # enum NHA_RES_GROUP_* (0 is the 64-bit alignment pad)
  codec do
    attr 1, :buckets, :u16
    attr 2, :idle_timer, :u32
    attr 3, :unbalanced_timer, :u32
    attr 4, :unbalanced_time, :u64
  end
end

defmodule Linx.Netlink.Rtnl.Nexthop do
  @moduledoc """
  Nexthop objects: `RTM_NEWNEXTHOP`/`RTM_DELNEXTHOP`/`RTM_GETNEXTHOP` messages
  (`struct nhmsg` plus `NHA_*` attributes, `/usr/include/linux/nexthop.h`), as
  `ip nexthop` shows and changes them. Routes use them with `nhid:`
  (`Linx.Netlink.Rtnl.Route.add/5`, like `ip route add ... nhid ID`).

      {:ok, sock} = Linx.Netlink.Rtnl.open()
      :ok = Nexthop.add(sock, id: 1, gateway: "10.0.0.2", dev: "eth0")
      :ok = Nexthop.add(sock, id: 2, gateway: "10.0.0.3", dev: "eth0")
      :ok = Nexthop.add(sock, id: 10, group: [{1, 3}, 2])            # weights 3 and 1
      :ok = Nexthop.add(sock, id: 11, group: [1, 2], type: :resilient, buckets: 32)
      :ok = Nexthop.add(sock, id: 99, blackhole: true)
      :ok = Linx.Netlink.Rtnl.Route.add(sock, "10.9.0.0", 16, nil, nhid: 10)
      {:ok, nh} = Nexthop.get(sock, 10)
      nh.group
      #=> [{1, 3}, {2, 1}]
      :ok = Nexthop.delete(sock, 99)

  ## Decoded fields

  Header (`struct nhmsg`): `family` (0 for groups, 2 or 10), `scope`, `protocol`,
  `flags` (`RTNH_F_*`, see `flag_names/1`). Attributes (nil when absent): `id`,
  `group` (a list of `{id, weight}`, weight 1..65536), `group_type` (0 hash-threshold
  multipath, 1 resilient; `group_type_name/1`), `blackhole` (true), `oif`, `gateway`
  (a `Linx.IP`), `encap_type`, `encap` (raw), `fdb` (true for a bridge FDB nexthop),
  `res_group` (a `Linx.Netlink.Rtnl.Nexthop.ResGroup`: buckets and timers of a
  resilient group). `groups` and `master` are dump filters the kernel never sends.

  ## Options of `add/2` and `replace/2`

  A keyword list (or map) in `ip nexthop`'s words; an unknown key or bad value raises
  `ArgumentError` naming it. Or a `%Nexthop{}`, sent as it is.

    * `:id` — 1..2³²−1 (without it the kernel picks one);
    * `:dev` (or `:oif`) — the device, by name or ifindex; `:gateway` — an address
      (an IPv6 zone names the device: `"fe80::1%eth0"`); `:onlink` — `true`;
    * `:blackhole` — `true`;
    * `:group` — a list of member ids or `{id, weight}` pairs; `:type` —
      `:mpath` (default) or `:resilient`, with `:buckets`, `:idle_timer` and
      `:unbalanced_timer` (seconds, as `ip nexthop` takes them);
    * `:fdb` — `true`; `:protocol` — 0..255 or a name as in `Linx.Netlink.Rtnl.Route`;
    * `:family` — `:inet` or `:inet6`, for a nexthop without a gateway (default
      `:inet`; groups have none).
  """

  use Linx.Netlink.Codec

  import Bitwise
  import Linx.Netlink.Constants
  import Linx.Netlink.Request, only: [is_transport: 1]

  alias Linx.IP
  alias Linx.Netlink.{Error, Message, Request, Socket}
  alias Linx.Netlink.Rtnl.{Link, Route}
  alias Linx.Netlink.Rtnl.Nexthop.{Group, ResGroup}

  # /usr/include/linux/rtnetlink.h
  @rtm_newnexthop 104
  @rtm_delnexthop 105
  @rtm_getnexthop 106

  # /usr/include/x86_64-linux-gnu/bits/socket.h (AF_INET = PF_INET, AF_INET6 = PF_INET6)
  @af_inet 2
  @af_inet6 10

  # /usr/include/linux/nexthop.h, NEXTHOP_GRP_TYPE_*
  @group_types [mpath: 0, resilient: 1]

  # /usr/include/linux/rtnetlink.h, RTNH_F_*
  @rtnh_f_onlink 0x4

  # USER_HZ: the kernel reports and takes the resilient-group timers in clock_t units
  @user_hz 100

  codec do
    # struct nhmsg
    header do
      field :family, :u8
      field :scope, :u8
      field :protocol, :u8
      pad 1
      field :flags, :u32
    end

    # enum NHA_*
    attr 1, :id, :u32
    attr 2, :group, Group
    attr 3, :group_type, :u16
    attr 4, :blackhole, :flag
    attr 5, :oif, :u32
    attr 6, :gateway, Linx.IP
    attr 7, :encap_type, :u16
    attr 8, :encap, :binary
    attr 9, :groups, :flag
    attr 10, :master, :u32
    attr 11, :fdb, :flag
    attr 12, :res_group, ResGroup
  end

  @type spec :: t() | keyword() | map()

  @spec_keys [
    :id,
    :dev,
    :oif,
    :gateway,
    :onlink,
    :blackhole,
    :group,
    :type,
    :buckets,
    :idle_timer,
    :unbalanced_timer,
    :fdb,
    :protocol,
    :family
  ]

  @doc "The group type as `:mpath` or `:resilient` (nil when not a group)."
  @spec group_type_name(t()) :: :mpath | :resilient | non_neg_integer() | nil
  def group_type_name(%__MODULE__{group: nil}), do: nil
  def group_type_name(%__MODULE__{group_type: nil}), do: :mpath

  def group_type_name(%__MODULE__{group_type: t}) do
    case List.keyfind(@group_types, t, 1) do
      {name, _} -> name
      nil -> t
    end
  end

  @doc "The `RTNH_F_*` flags set, as atoms (`:onlink`, `:linkdown`, `:dead`, ...)."
  @spec flag_names(t()) :: [atom()]
  def flag_names(%__MODULE__{flags: flags}) when is_integer(flags),
    do: Route.Path.flag_names(flags)

  def flag_names(%__MODULE__{}), do: []

  # --- reads ----------------------------------------------------------------------------

  @doc """
  Every nexthop object in the socket's netns (an `RTM_GETNEXTHOP` dump, like
  `ip nexthop show`). `opts` filter it: `:dev`/`:oif` (nexthops using that device),
  `:master` (nexthops whose device has that master, by name or ifindex), `groups: true`
  (only groups), `fdb: true` (only FDB nexthops), `:family` (`:inet`, `:inet6`; groups
  have none, so they are left out). The kernel filters, and the result is checked again
  here: Linux returns every nexthop for an `fdb` filter alone (so does `ip nexthop show
  fdb`).
  """
  @spec list(Socket.t(), keyword()) :: {:ok, [t()]} | {:error, Error.t()}
  def list(sock, opts \\ []) when is_transport(sock) and is_list(opts) do
    with {:ok, request} <- list_request(sock, opts) do
      Request.fold(sock, @rtm_getnexthop, nlm_f_dump(), encode(request), [], &collect/2,
        operation: :list_nexthops,
        object: sock.netns
      )
      |> case do
        {:ok, nhs} -> {:ok, nhs |> Enum.reverse() |> Enum.filter(&matches?(&1, request))}
        error -> error
      end
    end
  end

  # The kernel applies these filters itself, except `fdb` alone (it returns every
  # nexthop when no device, master or family is given); checked here too.
  defp matches?(nh, filter) do
    (filter.oif == nil or nh.oif == filter.oif) and
      (filter.groups != true or nh.group != nil) and
      (filter.fdb != true or nh.fdb == true) and
      (filter.family == 0 or nh.family == filter.family)
  end

  defp collect(%Message{type: @rtm_newnexthop, payload: p}, acc), do: [decode(p) | acc]
  defp collect(_msg, acc), do: acc

  defp list_request(sock, opts) do
    Enum.reduce_while(opts, {:ok, %__MODULE__{}}, fn opt, {:ok, r} ->
      case list_opt(sock, r, opt) do
        {:ok, r} -> {:cont, {:ok, r}}
        error -> {:halt, error}
      end
    end)
  end

  defp list_opt(sock, r, {key, dev}) when key in [:dev, :oif] do
    with {:ok, i} <- Link.resolve(sock, dev!(key, dev)), do: {:ok, %{r | oif: i}}
  end

  defp list_opt(sock, r, {:master, dev}) do
    with {:ok, i} <- Link.resolve(sock, dev!(:master, dev)), do: {:ok, %{r | master: i}}
  end

  defp list_opt(_sock, r, {:groups, true}), do: {:ok, %{r | groups: true}}
  defp list_opt(_sock, r, {:fdb, true}), do: {:ok, %{r | fdb: true}}
  defp list_opt(_sock, r, {key, false}) when key in [:groups, :fdb], do: {:ok, r}
  defp list_opt(_sock, r, {:family, f}), do: {:ok, %{r | family: family!(f)}}

  defp list_opt(_sock, _r, other),
    do: raise(ArgumentError, "unknown or bad option for Nexthop.list/2: #{inspect(other)}")

  @doc """
  One nexthop by id (`RTM_GETNEXTHOP`, like `ip nexthop get id ID`). A missing id is
  `{:error, %Linx.Netlink.Error{errno: :enoent}}`.
  """
  @spec get(Socket.t(), pos_integer()) :: {:ok, t()} | {:error, Error.t()}
  def get(sock, id) when is_transport(sock) do
    id = id!(id)

    case Request.talk(sock, @rtm_getnexthop, 0, encode(%__MODULE__{id: id}),
           operation: :get_nexthop,
           object: id
         ) do
      {:ok, [msg | _]} ->
        case decode_message(msg) do
          nil ->
            {:error,
             Error.new(:eproto, operation: :get_nexthop, object: id, message: "unexpected reply")}

          nh ->
            {:ok, nh}
        end

      {:ok, []} ->
        {:error, Error.new(:enodata, operation: :get_nexthop, object: id, message: "no reply")}

      error ->
        error
    end
  end

  # --- writes ---------------------------------------------------------------------------

  @doc """
  Creates a nexthop (`RTM_NEWNEXTHOP` with `NLM_F_CREATE | NLM_F_EXCL`, like
  `ip nexthop add`); an existing id gives `:eexist`. See the moduledoc for `spec`.
  """
  @spec add(Socket.t(), spec()) :: :ok | {:error, Error.t()}
  def add(sock, spec) when is_transport(sock),
    do: write(sock, :add_nexthop, nlm_f_create() ||| nlm_f_excl() ||| nlm_f_ack(), spec)

  @doc """
  Creates or replaces a nexthop (`NLM_F_CREATE | NLM_F_REPLACE`, like
  `ip nexthop replace`). Routes using the id follow the change.
  """
  @spec replace(Socket.t(), spec()) :: :ok | {:error, Error.t()}
  def replace(sock, spec) when is_transport(sock),
    do: write(sock, :replace_nexthop, nlm_f_create() ||| nlm_f_replace() ||| nlm_f_ack(), spec)

  @doc """
  Deletes the nexthop `id` (`RTM_DELNEXTHOP`, like `ip nexthop del id ID`); routes using
  it go with it, and groups drop it.
  """
  @spec delete(Socket.t(), pos_integer()) :: :ok | {:error, Error.t()}
  def delete(sock, id) when is_transport(sock) do
    id = id!(id)

    case Request.talk(sock, @rtm_delnexthop, nlm_f_ack(), encode(%__MODULE__{id: id}),
           operation: :delete_nexthop,
           object: id
         ) do
      {:ok, _} -> :ok
      error -> error
    end
  end

  defp write(sock, op, flags, spec) do
    with {:ok, nh} <- resolve(sock, spec) do
      case Request.talk(sock, @rtm_newnexthop, flags, encode_request(nh),
             operation: op,
             object: nh.id
           ) do
        {:ok, _} -> :ok
        error -> error
      end
    end
  end

  @doc false
  # The RTM_NEWNEXTHOP payload. The kernel parses nexthop requests strictly, so the
  # NHA_RES_GROUP nest needs its NLA_F_NESTED bit, which the codec does not set.
  @spec encode_request(t()) :: binary()
  def encode_request(%__MODULE__{res_group: nil} = nh), do: encode(nh)

  def encode_request(%__MODULE__{res_group: %ResGroup{} = rg} = nh) do
    IO.iodata_to_binary([
      encode(%{nh | res_group: nil}),
      Linx.Netlink.Attr.encode_one({12 ||| 0x8000, ResGroup.encode(rg)})
    ])
  end

  # Interface names (and a gateway's zone) become ifindexes; then the pure build.
  defp resolve(_sock, %__MODULE__{} = nh), do: {:ok, nh}

  defp resolve(sock, spec) when is_list(spec) or is_map(spec) do
    kv = Enum.to_list(spec)

    for {key, _} = opt <- kv, key not in @spec_keys do
      raise ArgumentError, "unknown nexthop option #{inspect(opt)}"
    end

    gw = if g = kv[:gateway], do: ip!(:gateway, g)
    zone = gw && gw.zone

    devs =
      [kv[:dev], kv[:oif], zone]
      |> Enum.reject(&is_nil/1)
      |> Enum.map(fn
        z when z == zone and is_binary(z) ->
          case Integer.parse(z) do
            {i, ""} when i > 0 -> i
            _ -> z
          end

        d ->
          dev!(:dev, d)
      end)

    with {:ok, indexes} <- resolve_all(sock, devs) do
      case Enum.uniq(indexes) do
        [] ->
          build(kv, gw, nil)

        [index] ->
          build(kv, gw, index)

        _ ->
          raise ArgumentError,
                "the nexthop's :dev/:oif and gateway zone name different interfaces: #{inspect(devs)}"
      end
    end
  end

  defp resolve(_sock, other),
    do:
      raise(
        ArgumentError,
        "a nexthop is a keyword list, map or %Nexthop{}, got: #{inspect(other)}"
      )

  defp resolve_all(sock, devs) do
    Enum.reduce_while(devs, {:ok, []}, fn dev, {:ok, acc} ->
      case Link.resolve(sock, dev) do
        {:ok, i} -> {:cont, {:ok, [i | acc]}}
        error -> {:halt, error}
      end
    end)
  end

  @doc false
  # The request struct for a nexthop spec whose interface is already an ifindex (or nil).
  # Pure; bad input raises ArgumentError.
  @spec build(keyword(), IP.t() | nil, pos_integer() | nil) :: {:ok, t()}
  def build(kv, gw, oif) do
    group = if g = kv[:group], do: group!(g)
    family = kv[:family] && family!(kv[:family])

    if gw && family && family_int(gw.family) != family,
      do: raise(ArgumentError, "gateway #{inspect(gw)} is not #{kv[:family]} (family mismatch)")

    type = kv[:type]

    group_type =
      case type do
        nil -> nil
        t when is_atom(t) and is_map_key(%{mpath: 0, resilient: 0}, t) -> @group_types[t]
        other -> raise ArgumentError, "bad value for nexthop option :type: #{inspect(other)}"
      end

    res_keys = [:buckets, :idle_timer, :unbalanced_timer]

    if type != :resilient and Enum.any?(res_keys, &Keyword.has_key?(kv, &1)),
      do: raise(ArgumentError, "#{inspect(res_keys)} need type: :resilient")

    res_group =
      if type == :resilient do
        %ResGroup{
          buckets: opt_int(kv, :buckets, 0xFFFF),
          idle_timer: opt_seconds(kv, :idle_timer),
          unbalanced_timer: opt_seconds(kv, :unbalanced_timer)
        }
      end

    nh = %__MODULE__{
      family:
        cond do
          gw -> family_int(gw.family)
          family -> family
          group -> 0
          true -> @af_inet
        end,
      protocol: Route.named_protocol!(Keyword.get(kv, :protocol, 0)),
      flags: if(flag!(kv, :onlink), do: @rtnh_f_onlink, else: 0),
      id: if(id = kv[:id], do: id!(id)),
      group: group,
      group_type: group_type,
      blackhole: flag!(kv, :blackhole) || nil,
      oif: oif,
      gateway: gw && %{gw | zone: nil},
      fdb: flag!(kv, :fdb) || nil,
      res_group: res_group
    }

    {:ok, nh}
  end

  defp group!(members) when is_list(members) and members != [] do
    Enum.map(members, fn
      {id, w} when is_integer(w) and w in 1..65536 -> {id!(id), w}
      {_id, w} -> raise ArgumentError, "bad nexthop group weight #{inspect(w)} (1..65536)"
      id -> {id!(id), 1}
    end)
  end

  defp group!(other),
    do: raise(ArgumentError, "bad value for nexthop option :group: #{inspect(other)}")

  defp flag!(kv, key) do
    case Keyword.get(kv, key, false) do
      b when is_boolean(b) ->
        b

      other ->
        raise ArgumentError, "bad value for nexthop option #{inspect(key)}: #{inspect(other)}"
    end
  end

  defp opt_int(kv, key, max) do
    case kv[key] do
      nil ->
        nil

      n when is_integer(n) and n >= 0 and n <= max ->
        n

      other ->
        raise ArgumentError, "bad value for nexthop option #{inspect(key)}: #{inspect(other)}"
    end
  end

  defp opt_seconds(kv, key) do
    case kv[key] do
      nil ->
        nil

      s when is_integer(s) and s >= 0 and s * @user_hz <= 0xFFFFFFFF ->
        s * @user_hz

      other ->
        raise ArgumentError, "bad value for nexthop option #{inspect(key)}: #{inspect(other)}"
    end
  end

  defp id!(id) when is_integer(id) and id in 1..0xFFFFFFFF, do: id
  defp id!(id), do: raise(ArgumentError, "bad nexthop id #{inspect(id)} (1..4294967295)")

  defp ip!(_what, %IP{} = ip), do: ip

  defp ip!(what, text) when is_binary(text) do
    case IP.parse(text) do
      {:ok, ip} -> ip
      {:error, _} -> raise ArgumentError, "bad #{what} address: #{inspect(text)}"
    end
  end

  defp ip!(what, other),
    do:
      raise(ArgumentError, "#{what} must be an address string or Linx.IP, got: #{inspect(other)}")

  defp dev!(_key, i) when is_integer(i) and i > 0 and i <= 0x7FFFFFFF, do: i
  defp dev!(_key, name) when is_binary(name), do: Link.validate_name!(name)

  defp dev!(key, other),
    do: raise(ArgumentError, "bad value for nexthop option #{inspect(key)}: #{inspect(other)}")

  defp family!(:inet), do: @af_inet
  defp family!(:inet6), do: @af_inet6
  defp family!(other), do: raise(ArgumentError, "bad value for option :family: #{inspect(other)}")

  defp family_int(:inet), do: @af_inet
  defp family_int(:inet6), do: @af_inet6

  @doc false
  # A nexthop from an RTM_NEWNEXTHOP/RTM_DELNEXTHOP message, nil for any other message.
  @spec decode_message(Message.t()) :: t() | nil
  def decode_message(%Message{type: type, payload: payload})
      when type in [@rtm_newnexthop, @rtm_delnexthop],
      do: decode(payload)

  def decode_message(_), do: nil

  defimpl Inspect do
    alias Linx.Netlink.Rtnl.Nexthop

    def inspect(%Nexthop{} = nh, _opts) do
      parts =
        [
          nh.id && "id=#{nh.id}",
          nh.blackhole && "blackhole",
          nh.group && group(nh),
          nh.gateway && "via #{nh.gateway}",
          nh.oif && "oif=#{nh.oif}",
          nh.fdb && "fdb",
          nh.res_group && is_integer(nh.res_group.buckets) && "buckets=#{nh.res_group.buckets}",
          Nexthop.flag_names(nh) != [] && Enum.join(Nexthop.flag_names(nh), ",")
        ]
        |> Enum.filter(&is_binary/1)

      "#Linx.Netlink.Rtnl.Nexthop<" <> Enum.join(parts, " ") <> ">"
    end

    defp group(nh) do
      members =
        Enum.map_join(nh.group, ",", fn
          {id, 1} -> "#{id}"
          {id, w} -> "#{id}/#{w}"
        end)

      prefix = if Nexthop.group_type_name(nh) == :resilient, do: "resilient ", else: ""
      "#{prefix}group=#{members}"
    end
  end
end
